"""Test stage: the staging endpoint really serves the approved model well enough.

Each test is a case of the JUnit report GitLab shows (`--junitxml`); the figures each one measured
are recorded as properties of its case (`record_property`), which is where the platform's local
run reads them from.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from staging_checks import (
    CheckFailed,
    EndpointLatency,
    invoke_csv,
    model_latency_from_cloudwatch,
    next_minute,
    over_limits,
    percentiles,
    read_registered_metric,
    score,
)

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
            found.extend(invoke_csv(clients["runtime"], in_service, lines[start : start + batch]).outputs)

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


@dataclass(frozen=True)
class Probes:
    """The single-row latency probes: round trips and the model's own times (ms), and their window."""

    latencies_ms: list[float]
    model_ms: list[float | None]
    started: datetime
    ended: datetime


@pytest.fixture(scope="module")
def probes(
    request: pytest.FixtureRequest,
    in_service: str,
    clients: dict[str, Any],
    held_out: tuple[list[float], list[str]],
    settings: dict[str, Any],
) -> Probes:
    """`LatencyProbes` single-row requests, one after another.

    Measured from CloudWatch, they start on a minute of their own: CloudWatch's periods are whole
    minutes, and the metric check's batch requests (slower, many rows each) must not fall into the
    probes' window and move its percentiles.
    """
    lines = held_out[1]
    if request.config.getoption("endpoint_latency_source") == "cloudwatch":
        time.sleep(max(0.0, (next_minute(datetime.now(UTC)) - datetime.now(UTC)).total_seconds()))
    started = datetime.now(UTC)
    latencies: list[float] = []
    model: list[float | None] = []

    def probe() -> None:
        for i in range(int(settings["LatencyProbes"])):
            answer = invoke_csv(clients["runtime"], in_service, [lines[i % len(lines)]])
            latencies.append(answer.latency_ms)
            model.append(answer.model_ms)

    _check(probe)
    return Probes(latencies, model, started, datetime.now(UTC))


def _gate(what: str, measured: dict[str, float], limits: dict[str, float], record_property: Record) -> None:
    for name, value in measured.items():
        record_property(f"{name}_ms", f"{value:.1f}")
    record_property("limits_ms", json.dumps(limits))
    over = over_limits(measured, limits)
    if over:
        pytest.fail(f"{what}: {', '.join(over)}", pytrace=False)


def test_latency_percentiles(probes: Probes, settings: dict[str, Any], record_property: Record) -> None:
    """p50/p90/p99 of the round trip of `LatencyProbes` single-row requests, as the runner sees them (network
    included), are within `LatencyLimitsMs`."""
    record_property("latency_probes", len(probes.latencies_ms))
    record_property("latencies_ms", json.dumps([round(latency, 2) for latency in probes.latencies_ms]))
    _gate(
        f"round-trip latency of {len(probes.latencies_ms)} single-row requests",
        percentiles(probes.latencies_ms),
        settings["LatencyLimitsMs"],
        record_property,
    )


def test_model_latency_at_the_endpoint(
    request: pytest.FixtureRequest,
    probes: Probes,
    in_service: str,
    clients: dict[str, Any],
    settings: dict[str, Any],
    record_property: Record,
) -> None:
    """p50/p90/p99 of the endpoint's own latency for the same requests (SageMaker's `ModelLatency` from
    CloudWatch, or the model server's `Server-Timing`) are within `ModelLatencyLimitsMs`."""
    source = request.config.getoption("endpoint_latency_source")
    record_property("source", source)
    if source == "server-timing":
        timings = [value for value in probes.model_ms if value is not None]
        if len(timings) != len(probes.model_ms):
            pytest.fail(
                f"{len(probes.model_ms) - len(timings)} of {len(probes.model_ms)} answers carry no Server-Timing "
                "header: SageMaker passes no container headers on; measure with --endpoint-latency-source cloudwatch",
                pytrace=False,
            )
        measured = EndpointLatency(percentiles(timings), len(timings))
    else:
        found: list[EndpointLatency] = []

        def read() -> None:
            found.append(
                model_latency_from_cloudwatch(
                    clients["cloudwatch"],
                    in_service,
                    start=probes.started,
                    end=probes.ended,
                    expected=len(probes.latencies_ms),
                    timeout_s=settings["EndpointMetricsTimeoutSeconds"],
                    poll_s=request.config.getoption("metrics_poll_seconds"),
                )
            )

        _check(read)
        measured = found[0]
    record_property("samples", measured.samples)
    record_property("other_requests", measured.samples - len(probes.latencies_ms))
    _gate(
        f"model latency at the endpoint ({source}, {measured.samples} requests)",
        measured.percentiles,
        settings["ModelLatencyLimitsMs"],
        record_property,
    )
