"""Test stage: the staging endpoint really serves the approved model well enough.

Each test is a case of the JUnit report GitLab shows (`--junitxml`); the figures each one measured
are recorded as properties of its case (`record_property`), which is where the platform's local
run reads them from. Checks of one kind of model only are marked `tabular` or `image_classification`;
conftest.py keeps those of the deployed package's kind.
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
    Answer,
    CheckFailed,
    Classification,
    EndpointLatency,
    HeldOutImage,
    accuracy_floor,
    invoke_csv,
    invoke_image,
    is_image_classifier,
    model_latency_from_cloudwatch,
    next_minute,
    over_limits,
    percentiles,
    read_registered_metric,
    score,
    score_classes,
)

Record = Callable[[str, object], None]
tabular = pytest.mark.tabular
image_classification = pytest.mark.image_classification


def _check(check: Callable[[], None]) -> None:
    try:
        check()
    except CheckFailed as failure:
        pytest.fail(str(failure), pytrace=False)


@pytest.fixture(scope="module")
def classifications(
    in_service: str, clients: dict[str, Any], held_out_images: list[HeldOutImage]
) -> list[Classification]:
    """The image classifier's answer for each held-out image, one image per request."""
    found: list[Classification] = []

    def send() -> None:
        found.extend(invoke_image(clients["runtime"], in_service, image) for image in held_out_images)

    _check(send)
    return found


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


@tabular
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


@tabular
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


@image_classification
def test_top_k_answers(
    classifications: list[Classification], held_out_images: list[HeldOutImage], record_property: Record
) -> None:
    """Every held-out image gets the top-k list `[{"className", "probability"}]` back, most probable first,
    naming only classes of the test split."""
    assert len(classifications) == len(held_out_images)
    known = {image.label for image in held_out_images}
    unknown = sorted({name for answer in classifications for name, _ in answer.ranked} - known)
    record_property("images", len(held_out_images))
    record_property("classes", len(known))
    record_property("top_k", max(len(answer.ranked) for answer in classifications))
    if unknown:
        pytest.fail(f"answers name classes the test split does not have: {unknown[:10]}", pytrace=False)


@image_classification
def test_classifier_quality(
    classifications: list[Classification],
    held_out_images: list[HeldOutImage],
    clients: dict[str, Any],
    package: dict[str, Any],
    settings: dict[str, Any],
    record_property: Record,
) -> None:
    """The endpoint's top classes for the held-out images reach `AccuracyFloor` in accuracy, and score the
    registered metric within `MetricRelativeTolerance` of its registered value."""
    labels = [image.label for image in held_out_images]
    predicted = [answer.top for answer in classifications]
    registered = read_registered_metric(clients["s3"], package["EvaluationUri"])
    measured: dict[str, float] = {}

    def measure() -> None:
        measured["floor"] = accuracy_floor(settings)
        measured["accuracy"] = score_classes("accuracy", labels, predicted)
        measured[registered.name] = score_classes(registered.name, labels, predicted)

    _check(measure)
    record_property("problem_type", registered.problem_type)
    record_property("metric", registered.name)
    record_property("value", f"{measured[registered.name]:.4f}")
    record_property("registered", f"{registered.value:.4f}")
    record_property("accuracy", f"{measured['accuracy']:.4f}")
    record_property("accuracy_floor", f"{measured['floor']:g}")
    failures = []
    if measured["accuracy"] < measured["floor"]:
        failures.append(
            f"accuracy {measured['accuracy']:.4f} on {len(labels)} held-out images is below the floor "
            f"{measured['floor']:g} (Test.AccuracyFloor)"
        )
    tolerance = settings["MetricRelativeTolerance"]
    if abs(measured[registered.name] - registered.value) > tolerance * abs(registered.value):
        failures.append(
            f"{registered.name} {measured[registered.name]:.4f} on {len(labels)} held-out images differs from the "
            f"registered {registered.value:.4f} by more than {tolerance:.1%}"
        )
    if failures:
        pytest.fail("; ".join(failures), pytrace=False)


@dataclass(frozen=True)
class Probes:
    """The single-row latency probes: round trips and the model's own times (ms), and their window."""

    latencies_ms: list[float]
    model_ms: list[float | None]
    started: datetime
    ended: datetime


@pytest.fixture(scope="module")
def probe(
    request: pytest.FixtureRequest, in_service: str, clients: dict[str, Any], package: dict[str, Any]
) -> Callable[[int], Answer | Classification]:
    """Send the `i`-th single-input request: one held-out row, or one held-out image for the image classifier."""
    runtime = clients["runtime"]
    if is_image_classifier(package):
        images: list[HeldOutImage] = request.getfixturevalue("held_out_images")
        return lambda i: invoke_image(runtime, in_service, images[i % len(images)])
    lines: list[str] = request.getfixturevalue("held_out")[1]
    return lambda i: invoke_csv(runtime, in_service, [lines[i % len(lines)]])


@pytest.fixture(scope="module")
def probes(
    request: pytest.FixtureRequest,
    probe: Callable[[int], Answer | Classification],
    settings: dict[str, Any],
) -> Probes:
    """`LatencyProbes` single-row (or single-image) requests, one after another.

    Measured from CloudWatch, they start on a minute of their own: CloudWatch's periods are whole
    minutes, and the metric check's batch requests (slower, many rows each) must not fall into the
    probes' window and move its percentiles.
    """
    if request.config.getoption("endpoint_latency_source") == "cloudwatch":
        time.sleep(max(0.0, (next_minute(datetime.now(UTC)) - datetime.now(UTC)).total_seconds()))
    started = datetime.now(UTC)
    latencies: list[float] = []
    model: list[float | None] = []

    def send() -> None:
        for i in range(int(settings["LatencyProbes"])):
            answer = probe(i)
            latencies.append(answer.latency_ms)
            model.append(answer.model_ms)

    _check(send)
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
