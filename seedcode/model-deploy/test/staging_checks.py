"""What the staging tests (test_staging.py) measure: plain functions over boto3 clients.

Settings come from the `Test` section of `staging-config.json`. The held-out rows are the model
build's test split (CSV, no header, label first): by default the CSV files under
`<execution prefix>/data/test/`, where the package's evaluation.json is
`<execution prefix>/evaluation/evaluation.json` (the model build's layout); `TEST_DATA_S3_URI`
names another prefix or file.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import WaiterError

TEST_SETTINGS = ("InServiceTimeoutSeconds", "BatchRows", "MseRelativeTolerance", "LatencyProbes", "P95LatencyMs")


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


def read_registered_mse(s3: Any, evaluation_uri: str) -> float:
    """`regression_metrics.mse.value` of the package's evaluation.json."""
    bucket, key = split_s3_uri(evaluation_uri)
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    try:
        return float(report["regression_metrics"]["mse"]["value"])
    except (KeyError, TypeError, ValueError):
        raise CheckFailed(f"{evaluation_uri} has no numeric regression_metrics.mse.value") from None


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


def invoke_csv(runtime: Any, endpoint: str, lines: list[str]) -> tuple[list[float], float]:
    """Send feature lines as one CSV request; return one prediction per line and the latency (ms)."""
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body="\n".join(lines).encode()
    )
    body = response["Body"].read().decode()
    latency_ms = (time.perf_counter() - started) * 1000
    values = [value for value in body.replace("\n", ",").split(",") if value.strip()]
    if len(values) != len(lines):
        raise CheckFailed(f"sent {len(lines)} rows, got {len(values)} predictions back: {body[:200]!r}")
    predictions = []
    for value in values:
        try:
            number = float(value)
        except ValueError:
            raise CheckFailed(f"prediction {value!r} is not a number") from None
        if not math.isfinite(number):
            raise CheckFailed(f"prediction {value!r} is not finite")
        predictions.append(number)
    return predictions, latency_ms


def mean_squared_error(labels: list[float], predictions: list[float]) -> float:
    """Mean of the squared differences."""
    return sum((label - prediction) ** 2 for label, prediction in zip(labels, predictions, strict=True)) / len(labels)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
