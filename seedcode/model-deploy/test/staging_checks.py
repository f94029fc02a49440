"""What the staging tests (test_staging.py) measure: plain functions over boto3 clients.

Settings come from the `Test` section of `staging-config.json`. The held-out rows are the model
build's test split (CSV, no header, label first; for classification the label is the class index):
by default the CSV files under `<execution prefix>/data/test/`, where the package's evaluation.json
is `<execution prefix>/evaluation/evaluation.json` (the model build's layout); `TEST_DATA_S3_URI`
names another prefix or file.

The registered evaluation.json says the problem type and the quality gate's metric; the endpoint's
answers are scored with that metric (scikit-learn, as the model build's evaluation does): one
prediction per row for regression, the positive class's probability for binary classification,
one probability per class for multiclass classification.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import WaiterError
from sklearn import metrics as skm

TEST_SETTINGS = ("InServiceTimeoutSeconds", "BatchRows", "MetricRelativeTolerance", "LatencyProbes", "P95LatencyMs")
SECTIONS = {
    "regression": "regression_metrics",
    "binary_classification": "binary_classification_metrics",
    "multiclass_classification": "multiclass_classification_metrics",
}


class CheckFailed(Exception):
    """A check that did not pass; the message says what was expected and what was found."""


def load_test_settings(config_path: Path) -> dict[str, Any]:
    """The `Test` section of the stage configuration, every setting present and a positive number."""
    document = json.loads(config_path.read_text())
    settings = document.get("Test") if isinstance(document, dict) else None
    if not isinstance(settings, dict):
        raise CheckFailed(f'{config_path} has no "Test" object')
    for name in TEST_SETTINGS:
        value = settings.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise CheckFailed(f"{config_path}: Test.{name} must be a positive number, got {value!r}")
    return settings


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (`bucket`, `key`)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise CheckFailed(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def held_out_uri(evaluation_uri: str, override: str | None) -> str:
    """Where the held-out rows are: `override`, else `<execution prefix>/data/test/` next to evaluation.json."""
    if override:
        return override
    marker = "/evaluation/"
    if marker not in evaluation_uri:
        raise CheckFailed(
            f"evaluation URI {evaluation_uri} is not <prefix>/evaluation/evaluation.json: "
            "set TEST_DATA_S3_URI to the test split's location"
        )
    return evaluation_uri.rsplit(marker, 1)[0] + "/data/test/"


@dataclass(frozen=True)
class RegisteredMetric:
    """The quality gate's metric as the model build registered it."""

    problem_type: str
    name: str
    value: float


def read_registered_metric(s3: Any, evaluation_uri: str) -> RegisteredMetric:
    """Problem type, gate metric and its value from the package's evaluation.json."""
    bucket, key = split_s3_uri(evaluation_uri)
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    problem_type = report.get("problem_type", "regression")
    name = report.get("metric", "mse")
    if problem_type not in SECTIONS or name not in METRICS[problem_type]:
        raise CheckFailed(f"{evaluation_uri}: no metric this test can score ({problem_type!r}, {name!r})")
    try:
        return RegisteredMetric(problem_type, name, float(report[SECTIONS[problem_type]][name]["value"]))
    except (KeyError, TypeError, ValueError):
        raise CheckFailed(f"{evaluation_uri} has no numeric {SECTIONS[problem_type]}.{name}.value") from None


def _hard(metric: Callable[..., float], **options: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    """A metric of the predicted classes: above 0.5 (binary) or the most probable class (multiclass)."""

    def measure(labels: np.ndarray, outputs: np.ndarray) -> float:
        predicted = (outputs[:, 0] >= 0.5).astype(int) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
        return float(metric(labels, predicted, **options))

    return measure


def _classes(outputs: np.ndarray) -> list[int]:
    return list(range(outputs.shape[1]))


WEIGHTED: dict[str, Any] = {"average": "weighted", "zero_division": 0}
METRICS: dict[str, dict[str, Callable[[np.ndarray, np.ndarray], float]]] = {
    "regression": {
        "mse": lambda y, p: float(skm.mean_squared_error(y, p[:, 0])),
        "rmse": lambda y, p: float(np.sqrt(skm.mean_squared_error(y, p[:, 0]))),
        "mae": lambda y, p: float(skm.mean_absolute_error(y, p[:, 0])),
        "r2": lambda y, p: float(skm.r2_score(y, p[:, 0])),
    },
    "binary_classification": {
        "auc": lambda y, p: float(skm.roc_auc_score(y, p[:, 0])),
        "accuracy": _hard(skm.accuracy_score),
        "precision": _hard(skm.precision_score, zero_division=0),
        "recall": _hard(skm.recall_score, zero_division=0),
        "f1": _hard(skm.f1_score, zero_division=0),
        "log_loss": lambda y, p: float(skm.log_loss(y, p[:, 0], labels=[0, 1])),
    },
    "multiclass_classification": {
        "accuracy": _hard(skm.accuracy_score),
        "weighted_precision": _hard(skm.precision_score, **WEIGHTED),
        "weighted_recall": _hard(skm.recall_score, **WEIGHTED),
        "weighted_f1": _hard(skm.f1_score, **WEIGHTED),
        "auc": lambda y, p: float(skm.roc_auc_score(y, p, multi_class="ovr", average="weighted", labels=_classes(p))),
        "log_loss": lambda y, p: float(skm.log_loss(y, p, labels=_classes(p))),
    },
}


def score(metric: RegisteredMetric, labels: list[float], outputs: list[list[float]]) -> float:
    """The registered metric, measured on the endpoint's answers for the held-out rows."""
    matrix = np.asarray(outputs, dtype=float)
    if metric.problem_type != "multiclass_classification" and matrix.shape[1] != 1:
        raise CheckFailed(f"{metric.problem_type}: expected one value per row, got {matrix.shape[1]}")
    if metric.problem_type == "multiclass_classification" and matrix.shape[1] < 3:
        raise CheckFailed(f"multiclass_classification: expected one probability per class, got {matrix.shape[1]}")
    truth = np.asarray(labels, dtype=float)
    if metric.problem_type != "regression":
        truth = truth.astype(int)
    try:
        return METRICS[metric.problem_type][metric.name](truth, matrix)
    except ValueError as error:
        raise CheckFailed(f"cannot score {metric.name} on the held-out rows: {error}") from None


def read_test_rows(s3: Any, uri: str) -> tuple[list[float], list[str]]:
    """Labels and feature lines (CSV text without the label) of the test split at `uri` (a file or a prefix)."""
    bucket, key = split_s3_uri(uri)
    if key.endswith(".csv"):
        keys = [key]
    else:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        keys = sorted(
            item["Key"] for page in pages for item in page.get("Contents", []) if item["Key"].endswith(".csv")
        )
    if not keys:
        raise CheckFailed(f"no CSV files under {uri}")
    labels, features = [], []
    for name in keys:
        for number, line in enumerate(s3.get_object(Bucket=bucket, Key=name)["Body"].read().decode().splitlines(), 1):
            if not line.strip():
                continue
            label, _, rest = line.partition(",")
            try:
                labels.append(float(label))
            except ValueError:
                raise CheckFailed(f"s3://{bucket}/{name} line {number}: label {label!r} is not a number") from None
            features.append(rest)
    return labels, features


def wait_in_service(sagemaker: Any, endpoint: str, timeout_s: float, poll_s: float = 30.0) -> str:
    """Wait (boto3's `endpoint_in_service` waiter) until InService; fail with SageMaker's reason otherwise."""
    attempts = max(1, math.ceil(timeout_s / poll_s)) if poll_s > 0 else 1
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": poll_s, "MaxAttempts": attempts}
        )
    except WaiterError as error:
        last = error.last_response or {}
        status = last.get("EndpointStatus", "unknown")
        reason = last.get("FailureReason") or last.get("Error", {}).get("Message") or error.kwargs.get("reason", "")
        if status in ("Creating", "Updating", "SystemUpdating"):
            raise CheckFailed(f"endpoint {endpoint} still {status} after {timeout_s:.0f} s") from None
        raise CheckFailed(f"endpoint {endpoint} is {status}: {reason or 'no reason given'}") from None
    return "InService"


def invoke_csv(runtime: Any, endpoint: str, lines: list[str]) -> tuple[list[list[float]], float]:
    """Send feature lines as one CSV request; return the outputs of each line and the latency (ms).

    The answer has one line per row: a prediction, or the class probabilities separated by commas.
    """
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body="\n".join(lines).encode()
    )
    body = response["Body"].read().decode()
    latency_ms = (time.perf_counter() - started) * 1000
    rows = [row for row in csv.reader(io.StringIO(body)) if row]
    if len(rows) != len(lines):
        raise CheckFailed(f"sent {len(lines)} rows, got {len(rows)} lines back: {body[:200]!r}")
    outputs = []
    for row in rows:
        try:
            numbers = [float(value) for value in row]
        except ValueError:
            raise CheckFailed(f"answer line {','.join(row)!r} is not numeric") from None
        if not all(math.isfinite(number) for number in numbers):
            raise CheckFailed(f"answer line {','.join(row)!r} is not finite")
        outputs.append(numbers)
    if len({len(row) for row in outputs}) > 1:
        raise CheckFailed(f"answer lines have different lengths: {body[:200]!r}")
    return outputs, latency_ms


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
