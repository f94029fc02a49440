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

Latency is measured twice over the same `LatencyProbes` single-row requests: the round trip from
the runner (what a client sees, network included), and at the endpoint (what the model takes):
SageMaker's `ModelLatency` metric for the endpoint over the probes' window, read from CloudWatch;
or, where no SageMaker front end publishes metrics (the local run, whose requests reach the model
server itself), the `Server-Timing: model;dur=<ms>` header the platform's model server answers
with. p50, p90 and p99 of each are gated on the configured limits. A percentile needs samples
beyond it to mean anything: `LatencyProbes` must leave at least `TAIL_SAMPLES` requests above the
p99 (1,000 probes).

An image classifier (the package's `ProblemType` is `image_classification`, the model build's image
pipeline) is tested with the held-out images instead: the `<class>/<image>.png|jpg` files of the test
split (same locations), each sent as one request with its own content type; the answer must be the
top-k list `[{"className": ..., "probability": ...}]`, most probable first, and the top class is the
prediction. The registered metric (accuracy, weighted precision/recall/F1) is scored on those
predictions, and the accuracy must also reach `Test.AccuracyFloor`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import WaiterError
from sklearn import metrics as skm

TEST_SETTINGS = (
    "InServiceTimeoutSeconds",
    "BatchRows",
    "MetricRelativeTolerance",
    "LatencyProbes",
    "EndpointMetricsTimeoutSeconds",
)
LIMIT_SETTINGS = ("LatencyLimitsMs", "ModelLatencyLimitsMs")
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}
TAIL_SAMPLES = 10  # requests that must lie above the highest percentile
LATENCY_SOURCES = ("cloudwatch", "server-timing")
SERVER_TIMING = "server-timing"
IMAGE_CLASSIFICATION = "image_classification"
SECTIONS = {
    "regression": "regression_metrics",
    "binary_classification": "binary_classification_metrics",
    "multiclass_classification": "multiclass_classification_metrics",
    IMAGE_CLASSIFICATION: "multiclass_classification_metrics",
}
IMAGE_CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
ACCURACY_FLOOR = "AccuracyFloor"


class CheckFailed(Exception):
    """A check that did not pass; the message says what was expected and what was found."""


def load_test_settings(config_path: Path) -> dict[str, Any]:
    """The `Test` section of the stage configuration, every setting present and a positive number."""
    document = json.loads(config_path.read_text())
    settings = document.get("Test") if isinstance(document, dict) else None
    if not isinstance(settings, dict):
        raise CheckFailed(f'{config_path} has no "Test" object')
    for name in TEST_SETTINGS:
        _positive(config_path, f"Test.{name}", settings.get(name))
    for name in LIMIT_SETTINGS:
        limits = settings.get(name)
        if not isinstance(limits, dict) or set(limits) != set(PERCENTILES):
            raise CheckFailed(
                f"{config_path}: Test.{name} must be an object with {', '.join(PERCENTILES)}, got {limits!r}"
            )
        for key, value in limits.items():
            _positive(config_path, f"Test.{name}.{key}", value)
    if ACCURACY_FLOOR in settings:
        accuracy_floor(settings, config_path)
    needed = minimum_probes()
    if settings["LatencyProbes"] < needed:
        raise CheckFailed(
            f"{config_path}: Test.LatencyProbes = {settings['LatencyProbes']} is too few for a p99: "
            f"at least {needed} leave {TAIL_SAMPLES} requests above it"
        )
    return settings


def _positive(config_path: Path, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise CheckFailed(f"{config_path}: {name} must be a positive number, got {value!r}")


def accuracy_floor(settings: dict[str, Any], config_path: Path | str = "the stage configuration") -> float:
    """`Test.AccuracyFloor`: the accuracy an image classifier must reach on the held-out images (0 to 1)."""
    value = settings.get(ACCURACY_FLOOR)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise CheckFailed(
            f"{config_path}: Test.{ACCURACY_FLOOR} must be a number in (0, 1] for an image classifier, got {value!r}"
        )
    return float(value)


def is_image_classifier(package: dict[str, Any]) -> bool:
    """Whether build.py's package summary is the model build's image classifier (`ProblemType` metadata)."""
    return package.get("ProblemType") == IMAGE_CLASSIFICATION


def minimum_probes() -> int:
    """Requests that leave `TAIL_SAMPLES` above the highest gated percentile (1,000 for a p99)."""
    return math.ceil(TAIL_SAMPLES / (1 - max(PERCENTILES.values())) - 1e-9)


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
    scorable = CLASS_METRICS if problem_type == IMAGE_CLASSIFICATION else METRICS.get(problem_type, {})
    if problem_type not in SECTIONS or name not in scorable:
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


# Metrics of predicted class names (an image classifier's top class); the model build's evaluation
# registers the same ones (weighted over the classes).
CLASS_METRICS: dict[str, Callable[[list[str], list[str]], float]] = {
    "accuracy": lambda y, p: float(skm.accuracy_score(y, p)),
    "weighted_precision": lambda y, p: float(skm.precision_score(y, p, **WEIGHTED)),
    "weighted_recall": lambda y, p: float(skm.recall_score(y, p, **WEIGHTED)),
    "weighted_f1": lambda y, p: float(skm.f1_score(y, p, **WEIGHTED)),
}


def score_classes(metric: str, labels: list[str], predicted: list[str]) -> float:
    """`metric` (one of CLASS_METRICS) of the predicted class names against the held-out images' classes."""
    if len(labels) != len(predicted) or not labels:
        raise CheckFailed(f"{len(predicted)} predictions for {len(labels)} held-out images")
    return CLASS_METRICS[metric](labels, predicted)


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


@dataclass(frozen=True)
class HeldOutImage:
    """One held-out image: its class (the folder it is in), where it is, its content type and bytes."""

    label: str
    uri: str
    content_type: str
    body: bytes


def read_test_images(s3: Any, uri: str) -> list[HeldOutImage]:
    """Every `<class>/<image>.png|jpg|jpeg` of the test split under the prefix `uri`, in key order."""
    bucket, key = split_s3_uri(uri)
    prefix = key if key.endswith("/") else key + "/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = sorted(
        item["Key"]
        for page in pages
        for item in page.get("Contents", [])
        if Path(item["Key"]).suffix.lower() in IMAGE_CONTENT_TYPES
    )
    if not keys:
        raise CheckFailed(f"no <class>/<image>.png|jpg files under {uri}")
    images = []
    for name in keys:
        parts = name[len(prefix) :].split("/")
        if len(parts) != 2 or not parts[0]:
            raise CheckFailed(f"s3://{bucket}/{name} is not <class>/<image> below {uri}")
        body = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
        content_type = IMAGE_CONTENT_TYPES[Path(name).suffix.lower()]
        images.append(HeldOutImage(parts[0], f"s3://{bucket}/{name}", content_type, body))
    return images


@dataclass(frozen=True)
class Classification:
    """An image classifier's answer for one image: (class name, probability), most probable first."""

    ranked: list[tuple[str, float]]
    latency_ms: float
    model_ms: float | None

    @property
    def top(self) -> str:
        """The predicted class."""
        return self.ranked[0][0]


def top_k(body: str) -> list[tuple[str, float]]:
    """Parse the seeds' answer `[{"className": ..., "probability": ...}, ...]`; CheckFailed says what is wrong.

    At least one class; each entry exactly those two keys, a class name and a probability in [0, 1];
    no class twice; most probable first; probabilities adding up to at most 1.
    """
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        raise CheckFailed(f"answer is not JSON: {body[:200]!r}") from None
    if not isinstance(document, list) or not document:
        raise CheckFailed(f"answer is not a non-empty list of classes: {body[:200]!r}")
    ranked = []
    for entry in document:
        if not isinstance(entry, dict) or set(entry) != {"className", "probability"}:
            raise CheckFailed(f'answer entry {entry!r} is not {{"className": ..., "probability": ...}}')
        name, probability = entry["className"], entry["probability"]
        if not isinstance(name, str) or not name:
            raise CheckFailed(f"answer entry {entry!r}: className must be a non-empty string")
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
            raise CheckFailed(f"answer entry {entry!r}: probability must be a number in [0, 1]")
        ranked.append((name, float(probability)))
    if len({name for name, _ in ranked}) != len(ranked):
        raise CheckFailed(f"answer names a class twice: {body[:200]!r}")
    if any(first[1] < second[1] for first, second in zip(ranked, ranked[1:], strict=False)):
        raise CheckFailed(f"answer is not ordered most probable first: {body[:200]!r}")
    if sum(probability for _, probability in ranked) > 1 + 1e-4:
        raise CheckFailed(f"answer's probabilities add up to more than 1: {body[:200]!r}")
    return ranked


def invoke_image(runtime: Any, endpoint: str, image: HeldOutImage) -> Classification:
    """Send one image (its bytes, its content type); return the classes the endpoint ranks and the latencies."""
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType=image.content_type, Accept="application/json", Body=image.body
    )
    body = response["Body"].read().decode()
    latency_ms = (time.perf_counter() - started) * 1000
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    try:
        ranked = top_k(body)
    except CheckFailed as failure:
        raise CheckFailed(f"{image.uri}: {failure}") from None
    return Classification(ranked, latency_ms, server_timing_ms(headers.get(SERVER_TIMING)))


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


@dataclass(frozen=True)
class Answer:
    """What one request got back: the outputs of each row, the round trip and the model's own time (ms)."""

    outputs: list[list[float]]
    latency_ms: float
    model_ms: float | None  # from Server-Timing; None when the answer has none (SageMaker passes none on)


def invoke_csv(runtime: Any, endpoint: str, lines: list[str]) -> Answer:
    """Send feature lines as one CSV request; return the outputs of each line and the latencies.

    The answer has one line per row: a prediction, or the class probabilities separated by commas.
    """
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body="\n".join(lines).encode()
    )
    body = response["Body"].read().decode()
    latency_ms = (time.perf_counter() - started) * 1000
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
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
    return Answer(outputs, latency_ms, server_timing_ms(headers.get(SERVER_TIMING)))


def server_timing_ms(header: str | None) -> float | None:
    """The `dur` (ms) of the `model` metric of a `Server-Timing` header, None without one.

    Each metric is `name;param=value;...`, the parameter syntax of MIME headers: the standard
    library's parser reads it.
    """
    for metric in (header or "").split(","):
        parsed = Message()
        parsed["server-timing"] = metric
        params = parsed.get_params(header="server-timing") or []
        if params and params[0][0].strip().lower() == "model":
            duration = dict(params[1:]).get("dur")
            try:
                return float(str(duration))
            except ValueError:
                raise CheckFailed(f"Server-Timing {header!r}: dur {duration!r} is not a number") from None
    return None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90 and p99 (nearest rank) of `values`."""
    return {name: percentile(values, fraction) for name, fraction in PERCENTILES.items()}


def over_limits(measured: dict[str, float], limits: dict[str, float]) -> list[str]:
    """`p99 812.0 ms > 500 ms` for each percentile over its limit."""
    return [
        f"{name} {measured[name]:.1f} ms > {limits[name]:g} ms" for name in PERCENTILES if measured[name] > limits[name]
    ]


def next_minute(moment: datetime) -> datetime:
    """The start of the minute after `moment` (CloudWatch's one-minute periods start on the minute)."""
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


@dataclass(frozen=True)
class EndpointLatency:
    """`ModelLatency` of the endpoint over a window, in ms, and the requests CloudWatch counted in it."""

    percentiles: dict[str, float]
    samples: int


def model_latency_from_cloudwatch(
    cloudwatch: Any,
    endpoint: str,
    *,
    start: datetime,
    end: datetime,
    expected: int,
    timeout_s: float,
    poll_s: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    variant: str = "AllTraffic",
) -> EndpointLatency:
    """p50/p90/p99 of `AWS/SageMaker` `ModelLatency` (microseconds) of `endpoint` from `start` to `end`.

    One period spans the whole window (whole minutes), so each percentile is over every request in
    it. SageMaker publishes the metric a minute or more after the requests: this asks again every
    `poll_s` until CloudWatch counts `expected` requests, and fails after `timeout_s`.
    """
    first = start.replace(second=0, microsecond=0)
    last = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    period = int((last - first).total_seconds())
    metric = {
        "Namespace": "AWS/SageMaker",
        "MetricName": "ModelLatency",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
    }
    stats = {**{name: name for name in PERCENTILES}, "samples": "SampleCount"}
    queries = [
        {"Id": key, "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}, "ReturnData": True}
        for key, stat in stats.items()
    ]
    waited = 0.0
    while True:
        response = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=first, EndTime=last)
        values = {item["Id"]: item["Values"] for item in response["MetricDataResults"]}
        samples = int(sum(values.get("samples") or [0]))
        if samples >= expected and all(values.get(name) for name in PERCENTILES):
            found = {name: float(values[name][0]) / 1000 for name in PERCENTILES}
            return EndpointLatency(found, samples)
        if waited >= timeout_s:
            raise CheckFailed(
                f"CloudWatch counts {samples} of the {expected} requests in ModelLatency of {endpoint} "
                f"({first:%H:%M}-{last:%H:%M} UTC) after {timeout_s:.0f} s"
            )
        sleep(poll_s)
        waited += poll_s
