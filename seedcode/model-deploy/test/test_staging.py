"""Test stage: the staging endpoint really serves the approved model well enough.

Each test is a case of the JUnit report GitLab shows (`--junitxml`); the figures each one measured
are recorded as properties of its case (`record_property`), which is where the platform's local
run reads them from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from staging_checks import CheckFailed, invoke_csv, percentile, read_registered_metric, score

Record = Callable[[str, object], None]


def _check(check: Callable[[], None]) -> None:
    try:
        check()
    except CheckFailed as failure:
        pytest.fail(str(failure), pytrace=False)


@pytest.fixture(scope="module")
def predictions(
    in_service: str, clients: dict[str, Any], held_out: tuple[list[float], list[str]], settings: dict[str, Any]
) -> list[list[float]]:
    """The endpoint's answer for each held-out row (a prediction, or class probabilities), in `BatchRows` batches."""
    lines, batch = held_out[1], int(settings["BatchRows"])
    found: list[list[float]] = []

    def send() -> None:
        for start in range(0, len(lines), batch):
            found.extend(invoke_csv(clients["runtime"], in_service, lines[start : start + batch])[0])

    _check(send)
    return found


def test_endpoint_in_service(in_service: str, record_property: Record) -> None:
    """The endpoint reaches InService within `InServiceTimeoutSeconds`."""
    record_property("endpoint", in_service)


def test_response_shape(
    predictions: list[list[float]],
    held_out: tuple[list[float], list[str]],
    settings: dict[str, Any],
    record_property: Record,
) -> None:
    """Every held-out row gets one answer line of finite numbers back (all lines the same length)."""
    rows = len(held_out[1])
    assert len(predictions) == rows
    record_property("rows", rows)
    record_property("outputs_per_row", len(predictions[0]))
    record_property("requests", math.ceil(rows / int(settings["BatchRows"])))


def test_metric_matches_registered(
    predictions: list[list[float]],
    held_out: tuple[list[float], list[str]],
    clients: dict[str, Any],
    package: dict[str, Any],
    settings: dict[str, Any],
    record_property: Record,
) -> None:
    """The registered quality-gate metric (MSE, AUC, accuracy, ...), measured on the endpoint's answers for the
    held-out rows, is within `MetricRelativeTolerance` of the registered value."""
    labels = held_out[0]
    registered = read_registered_metric(clients["s3"], package["EvaluationUri"])
    measured = 0.0

    def measure() -> None:
        nonlocal measured
        measured = score(registered, labels, predictions)

    _check(measure)
    record_property("problem_type", registered.problem_type)
    record_property("metric", registered.name)
    record_property("value", f"{measured:.4f}")
    record_property("registered", f"{registered.value:.4f}")
    tolerance = settings["MetricRelativeTolerance"]
    if abs(measured - registered.value) > tolerance * abs(registered.value):
        pytest.fail(
            f"{registered.name} {measured:.4f} on {len(labels)} held-out rows differs from the "
            f"registered {registered.value:.4f} by more than {tolerance:.1%}",
            pytrace=False,
        )


def test_p95_latency(
    in_service: str,
    clients: dict[str, Any],
    held_out: tuple[list[float], list[str]],
    settings: dict[str, Any],
    record_property: Record,
) -> None:
    """The p95 latency of `LatencyProbes` single-row requests is under `P95LatencyMs`."""
    lines = held_out[1]
    latencies: list[float] = []

    def probe() -> None:
        for i in range(int(settings["LatencyProbes"])):
            latencies.append(invoke_csv(clients["runtime"], in_service, [lines[i % len(lines)]])[1])

    _check(probe)
    p95 = percentile(latencies, 0.95)
    record_property("p95_ms", f"{p95:.1f}")
    record_property("latency_probes", len(latencies))
    record_property("latencies_ms", json.dumps([round(latency, 2) for latency in latencies]))
    if p95 > settings["P95LatencyMs"]:
        pytest.fail(
            f"p95 latency {p95:.1f} ms of {len(latencies)} single-row requests exceeds {settings['P95LatencyMs']} ms",
            pytrace=False,
        )
