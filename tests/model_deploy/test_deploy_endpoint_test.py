"""The deploy repo's staging tests (test/, pytest) against the real model server on a loopback port.

The test-staging job runs `python -m pytest test ... --junitxml ...` in the seed repository; these
tests run exactly that in a subprocess, with S3 and SageMaker in the in-process emulator and
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` pointing at the model server, and read the JUnit report.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost
from botocore.stub import Stubber
from xgboost_server.server_support import ServerProcess, make_model_dir, regression_rows

from local_lifecycle.emulator import Emulator
from local_lifecycle.staging_report import StagingReport, read_staging_report
from xgboost_container.model_format import save_model
from xgboost_container.server_model import DeviceChoice, load

from .conftest import BUCKET, EVALUATION_URI, EXECUTION_PREFIX, REGION, SEED

pytestmark = pytest.mark.e2e
TEST_KEY = "abalone-pipeline/exec-1/data/test/test.csv"
SETTINGS = {
    "InServiceTimeoutSeconds": 5,
    "BatchRows": 40,
    "MetricRelativeTolerance": 0.01,
    "LatencyProbes": 1000,
    "LatencyLimitsMs": {"p50": 2000, "p90": 2000, "p99": 2000},
    "ModelLatencyLimitsMs": {"p50": 2000, "p90": 2000, "p99": 2000},
    "EndpointMetricsTimeoutSeconds": 5,
}
CASES = [
    "test_endpoint_in_service",
    "test_response_shape",
    "test_metric_matches_registered",
    "test_latency_percentiles",
    "test_model_latency_at_the_endpoint",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("deploy-model"))


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(model_dir, tmp_path_factory.mktemp("deploy-server") / "server.log", workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def held_out(model_dir: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Held-out rows (features, labels) and the MSE the model build would have registered for them."""
    features, labels = regression_rows(150, seed=11)
    model = load(model_dir, DeviceChoice("cpu", "test"))
    mse = float(np.mean((model.predict(features) - labels) ** 2))
    return features, labels, mse


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(region=REGION) as running:
        yield running


@pytest.fixture
def staging(emulator: Emulator, held_out: tuple[np.ndarray, np.ndarray, float]) -> Emulator:
    """The artifact bucket (test split + evaluation.json) and an InService endpoint in the emulator."""
    return stage(emulator, held_out)


def stage(emulator: Emulator, held_out: tuple[np.ndarray, np.ndarray, float]) -> Emulator:
    """Reset the emulator, then lay out the held-out rows, an MSE evaluation.json and the endpoint."""
    emulator._post("/moto-api/reset", {})
    features, labels, mse = held_out
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    rows = "\n".join(
        ",".join(repr(float(v)) for v in (label, *row)) for label, row in zip(labels, features, strict=True)
    )
    s3.put_object(Bucket=BUCKET, Key=TEST_KEY, Body=rows.encode())
    write_evaluation(s3, mse)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    sagemaker.create_endpoint(EndpointName="abalone-staging", EndpointConfigName="c")
    return emulator


def write_evaluation(s3: Any, mse: float) -> None:
    """What the model build registers for a regression gated on MSE (an older report names neither)."""
    report = {"regression_metrics": {"mse": {"value": mse, "standard_deviation": 1.0}}}
    s3.put_object(Bucket=BUCKET, Key=EVALUATION_URI.removeprefix(f"s3://{BUCKET}/"), Body=json.dumps(report).encode())


def run_staging_tests(emulator: Emulator, server: ServerProcess, tmp_path: Path, **settings: Any) -> StagingReport:
    """What the test-staging job runs, in the seed repository; returns its JUnit report."""
    build = tmp_path / "build"
    build.mkdir(exist_ok=True)
    (build / "model-package.json").write_text(json.dumps({"EvaluationUri": EVALUATION_URI}))
    (build / "staging-outputs.json").write_text(json.dumps({"EndpointName": "abalone-staging"}))
    config = tmp_path / "staging-config.json"
    config.write_text(json.dumps({"Test": {**SETTINGS, **settings}}))
    report = build / "test-report.xml"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **emulator.environment(),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        "ENDPOINT_LATENCY_SOURCE": "server-timing",  # the requests reach the model server itself
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-m", "pytest", "test", "--build-dir", str(build), "--stage-config", str(config)]
    command += ["--poll-seconds", "1", "--junitxml", str(report), "-q"]
    subprocess.run(command, cwd=SEED, env=env, check=False, capture_output=True, text=True, timeout=120)
    return read_staging_report(report)


def test_every_check_passes_against_the_real_server(staging: Emulator, server: ServerProcess, held_out, tmp_path):
    report = run_staging_tests(staging, server, tmp_path)
    assert report.outcomes == dict.fromkeys(CASES, "passed")
    quality = report.properties["test_metric_matches_registered"]
    assert (quality["problem_type"], quality["metric"]) == ("regression", "mse")
    assert float(quality["value"]) == pytest.approx(held_out[2], rel=1e-3)
    assert report.properties["test_response_shape"] == {"rows": "150", "requests": "4", "outputs_per_row": "1"}
    latency = report.properties["test_latency_percentiles"]
    assert len(json.loads(latency["latencies_ms"])) == int(latency["latency_probes"]) == SETTINGS["LatencyProbes"]
    assert 0 < float(latency["p50_ms"]) <= float(latency["p90_ms"]) <= float(latency["p99_ms"])
    model = report.properties["test_model_latency_at_the_endpoint"]
    assert (model["source"], model["samples"], model["other_requests"]) == ("server-timing", "1000", "0")
    # The model's own time is part of each round trip.
    assert 0 < float(model["p50_ms"]) <= float(model["p99_ms"]) and float(model["p50_ms"]) < float(latency["p50_ms"])
    assert server.log().count("Booting worker") == 1


def test_mse_far_from_the_registered_one_fails(staging: Emulator, server: ServerProcess, held_out, tmp_path):
    write_evaluation(staging.client("s3"), held_out[2] * 2)
    report = run_staging_tests(staging, server, tmp_path)
    assert report.outcomes["test_metric_matches_registered"] == "failed"
    failure = report.failures["test_metric_matches_registered"]
    assert f"registered {held_out[2] * 2:.4f}" in failure and "150 held-out rows" in failure and "1.0%" in failure
    assert not report.passed


def test_slow_endpoint_fails_the_latency_bounds(staging: Emulator, server: ServerProcess, tmp_path):
    """Each percentile is gated on its own limit, at the runner and at the endpoint."""
    report = run_staging_tests(
        staging,
        server,
        tmp_path,
        LatencyLimitsMs={"p50": 2000, "p90": 2000, "p99": 0.001},
        ModelLatencyLimitsMs={"p50": 0.0001, "p90": 2000, "p99": 2000},
    )
    assert (
        report.outcomes["test_latency_percentiles"] == report.outcomes["test_model_latency_at_the_endpoint"] == "failed"
    )
    round_trip, model = (
        report.failures["test_latency_percentiles"],
        report.failures["test_model_latency_at_the_endpoint"],
    )
    assert "p99" in round_trip and "> 0.001 ms" in round_trip and "p50" not in round_trip
    assert "p50" in model and "> 0.0001 ms" in model and "server-timing, 1000 requests" in model


def test_rows_the_server_rejects_fail_the_shape_check_with_its_message(staging, server, tmp_path):
    staging.client("s3").put_object(Bucket=BUCKET, Key=TEST_KEY, Body=b"10,1,2,3\n11,4,5,6\n")  # 3 features, not 4
    report = run_staging_tests(staging, server, tmp_path)
    assert report.outcomes["test_endpoint_in_service"] == "passed"
    assert report.outcomes["test_response_shape"] == report.outcomes["test_metric_matches_registered"] == "error"
    assert "each row must have 4 features" in report.failures["test_response_shape"]


def test_a_missing_build_artifact_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "test", "--build-dir", str(tmp_path), "-q"],
        cwd=SEED,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode != 0
    assert "model-package.json" in result.stdout + result.stderr


def stubbed_sagemaker(*statuses: dict[str, str]) -> Any:
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for status in statuses:
        response = {
            "EndpointName": "e",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/e",
            "EndpointConfigName": "c",
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
            **status,
        }
        stubber.add_response("describe_endpoint", response, {"EndpointName": "e"})
    stubber.activate()
    return client


def test_a_failed_endpoint_fails_with_sagemakers_reason(seed_checks) -> None:
    client = stubbed_sagemaker(
        {"EndpointStatus": "Failed", "FailureReason": "The primary container did not pass the ping health check."}
    )
    with pytest.raises(seed_checks.CheckFailed, match="is Failed: The primary container did not pass the ping"):
        seed_checks.wait_in_service(client, "e", timeout_s=60, poll_s=30)


def test_an_endpoint_that_stays_creating_times_out(seed_checks) -> None:
    client = stubbed_sagemaker({"EndpointStatus": "Creating"}, {"EndpointStatus": "Creating"})
    with pytest.raises(seed_checks.CheckFailed, match="still Creating after 2 s"):
        seed_checks.wait_in_service(client, "e", timeout_s=2, poll_s=1)


def test_seed_test_settings_are_valid(seed_checks) -> None:
    settings = seed_checks.load_test_settings(SEED / "staging-config.json")
    assert set(settings) >= set(seed_checks.TEST_SETTINGS)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"BatchRows": 0}, "Test.BatchRows must be a positive number"),
        ({"LatencyProbes": None}, "Test.LatencyProbes must be a positive number"),
        ({"LatencyLimitsMs": {"p50": 1, "p90": 2}}, "Test.LatencyLimitsMs must be an object with p50, p90, p99"),
        ({"ModelLatencyLimitsMs": {"p50": 1, "p90": "fast", "p99": 3}}, "Test.ModelLatencyLimitsMs.p90 must be"),
        ({"LatencyProbes": 999}, "too few for a p99: at least 1000 leave 10 requests above it"),
    ],
)
def test_invalid_test_settings_are_named(seed_checks, tmp_path: Path, bad: dict[str, object], message: str) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"Test": {**SETTINGS, **bad}}))
    with pytest.raises(seed_checks.CheckFailed, match=message):
        seed_checks.load_test_settings(config)


def test_staging_gates_on_production_s_alarm_thresholds_or_tighter(seed_checks) -> None:
    """A model that passes staging must not fire production's p90/p99 ModelLatency alarms at once."""
    limits = seed_checks.load_test_settings(SEED / "staging-config.json")["ModelLatencyLimitsMs"]
    alarms = json.loads((SEED / "prod-config.json").read_text())["Parameters"]
    for name in ("p90", "p99"):
        assert limits[name] * 1000 <= int(alarms[f"ModelLatency{name.upper()}AlarmThresholdMicroseconds"]), name


def test_test_data_location(seed_checks) -> None:
    assert seed_checks.held_out_uri(EVALUATION_URI, None) == f"{EXECUTION_PREFIX}/data/test/"
    assert seed_checks.held_out_uri(EVALUATION_URI, "s3://other/rows.csv") == "s3://other/rows.csv"
    with pytest.raises(seed_checks.CheckFailed, match="TEST_DATA_S3_URI"):
        seed_checks.held_out_uri("s3://b/metrics.json", None)


def test_test_split_in_several_files_and_bad_labels(seed_checks, aws, clients) -> None:
    s3 = clients.s3
    s3.create_bucket(Bucket="test-split")
    s3.put_object(Bucket="test-split", Key="p/data/test/part-1.csv", Body=b"1,0.5,0.5\n")
    s3.put_object(Bucket="test-split", Key="p/data/test/part-0.csv", Body=b"2,0.1,0.2\n\n")
    s3.put_object(Bucket="test-split", Key="p/data/test/_SUCCESS", Body=b"")
    assert seed_checks.read_test_rows(s3, "s3://test-split/p/data/test/") == ([2.0, 1.0], ["0.1,0.2", "0.5,0.5"])
    s3.put_object(Bucket="test-split", Key="p/bad.csv", Body=b"rings,length\n")
    with pytest.raises(seed_checks.CheckFailed, match="line 1: label 'rings' is not a number"):
        seed_checks.read_test_rows(s3, "s3://test-split/p/bad.csv")
    with pytest.raises(seed_checks.CheckFailed, match="no CSV files under s3://test-split/empty/"):
        seed_checks.read_test_rows(s3, "s3://test-split/empty/")


class CannedRuntime:
    def __init__(self, body: bytes):
        self.body = body

    def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.body)}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"1.0\n", "sent 2 rows, got 1 lines back"),
        (b"1.0\nnan\n", "'nan' is not finite"),
        (b"1.0\nabc\n", "'abc' is not numeric"),
        (b"0.2,0.8\n0.5\n", "answer lines have different lengths"),
    ],
)
def test_response_shape_problems(seed_checks, body: bytes, fragment: str) -> None:
    with pytest.raises(seed_checks.CheckFailed, match=fragment):
        seed_checks.invoke_csv(CannedRuntime(body), "e", ["1,2", "3,4"])


def test_percentile_is_nearest_rank(seed_checks) -> None:
    values = [float(v) for v in range(1, 101)]
    assert seed_checks.percentile(values, 0.95) == 95
    assert seed_checks.percentile([7.0], 0.95) == 7.0
    assert seed_checks.percentiles([float(v) for v in range(1000, 0, -1)]) == {"p50": 500, "p90": 900, "p99": 990}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("model;dur=1.250", 1.25),
        ('cache;desc="hit", model;dur=0.4', 0.4),
        ('model;desc="xgboost";dur=7', 7.0),
        ("cache;dur=3", None),
        (None, None),
    ],
)
def test_server_timing_of_the_model(seed_checks, header, expected) -> None:
    assert seed_checks.server_timing_ms(header) == expected


def test_a_server_timing_that_is_not_a_number_is_named(seed_checks) -> None:
    with pytest.raises(seed_checks.CheckFailed, match="dur 'soon' is not a number"):
        seed_checks.server_timing_ms("model;dur=soon")


START = datetime(2026, 5, 1, 12, 0, 20, tzinfo=UTC)
END = datetime(2026, 5, 1, 12, 1, 5, tzinfo=UTC)


def metric_queries(period: int) -> list[dict[str, Any]]:
    metric = {
        "Namespace": "AWS/SageMaker",
        "MetricName": "ModelLatency",
        "Dimensions": [{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "AllTraffic"}],
    }
    stats = {"p50": "p50", "p90": "p90", "p99": "p99", "samples": "SampleCount"}
    return [
        {"Id": key, "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}, "ReturnData": True}
        for key, stat in stats.items()
    ]


def metric_results(samples: float | None, p50=800.0, p90=1500.0, p99=9000.0) -> dict[str, Any]:
    values = {"p50": p50, "p90": p90, "p99": p99, "samples": samples}
    return {
        "MetricDataResults": [
            {"Id": key, "Label": key, "StatusCode": "Complete", "Values": [] if value is None else [value]}
            for key, value in values.items()
        ]
    }


def stubbed_cloudwatch(*responses: dict[str, Any]) -> tuple[Any, Stubber]:
    client = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    # The whole window in one period: 12:00 to 12:02, two minutes.
    expected = {
        "MetricDataQueries": metric_queries(120),
        "StartTime": datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        "EndTime": datetime(2026, 5, 1, 12, 2, tzinfo=UTC),
    }
    for response in responses:
        stubber.add_response("get_metric_data", response, expected)
    stubber.activate()
    return client, stubber


def test_model_latency_is_read_from_cloudwatch_once_every_request_is_counted(seed_checks) -> None:
    """SageMaker publishes ModelLatency (microseconds) late: asked again until all probes are counted."""
    client, stubber = stubbed_cloudwatch(metric_results(None), metric_results(400), metric_results(1003))
    waits: list[float] = []
    found = seed_checks.model_latency_from_cloudwatch(
        client, "e", start=START, end=END, expected=1000, timeout_s=60, poll_s=15, sleep=waits.append
    )
    assert found.percentiles == {"p50": 0.8, "p90": 1.5, "p99": 9.0} and found.samples == 1003
    assert waits == [15, 15]
    stubber.assert_no_pending_responses()


def test_model_latency_that_never_arrives_fails_naming_what_was_counted(seed_checks) -> None:
    client, _ = stubbed_cloudwatch(metric_results(10), metric_results(20), metric_results(30))
    with pytest.raises(seed_checks.CheckFailed, match="counts 30 of the 1000 requests in ModelLatency of e"):
        seed_checks.model_latency_from_cloudwatch(
            client, "e", start=START, end=END, expected=1000, timeout_s=30, poll_s=15, sleep=lambda _: None
        )


def test_probes_measured_from_cloudwatch_start_on_a_minute_of_their_own(seed_checks) -> None:
    assert seed_checks.next_minute(START) == datetime(2026, 5, 1, 12, 1, tzinfo=UTC)


def build_evaluate() -> Any:
    """The model build's own evaluate.py (it is standalone: uploaded alone to its processing job)."""
    path = SEED.parent / "model-build" / "pipelines" / "abalone" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("model_build_seed_evaluate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLASSIFIERS = {
    "binary_classification": ({"objective": "binary:logistic"}, ["no", "yes"], "auc"),
    "multiclass_classification": ({"objective": "multi:softprob", "num_class": 3}, ["a", "b", "c"], "log_loss"),
}


@pytest.mark.parametrize("problem_type", sorted(CLASSIFIERS))
def test_a_classifier_s_probabilities_are_scored_with_the_registered_metric(
    emulator: Emulator, problem_type: str, tmp_path: Path
):
    """The build's evaluation registers the gate metric; the staging test measures the same value on the
    probabilities the real server returns for the same rows."""
    params, classes, metric = CLASSIFIERS[problem_type]
    features, target = regression_rows(240, seed=3)
    labels = np.digitize(target, np.quantile(target, np.linspace(0, 1, len(classes) + 1)[1:-1])).astype(float)
    booster = xgboost.train({**params, "max_depth": 2, "nthread": 1}, xgboost.DMatrix(features[:160], labels[:160]), 8)
    model_dir = tmp_path / "model"
    save_model(booster, model_dir, feature_names=[f"f{i}" for i in range(4)], label="y")
    held_features, held_labels = features[160:], labels[160:]
    description = {"feature_names": [f"f{i}" for i in range(4)], "problem_type": problem_type, "classes": classes}
    outputs = np.asarray(booster.predict(xgboost.DMatrix(held_features)), dtype=float)
    evaluation = build_evaluate().evaluate(held_labels, outputs, description, metric)
    with ServerProcess(model_dir, tmp_path / "server.log", workers=1) as server:
        staged = stage(emulator, (held_features, held_labels, 0.0))
        s3 = staged.client("s3")
        key = EVALUATION_URI.removeprefix(f"s3://{BUCKET}/")
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(evaluation).encode())
        report = run_staging_tests(staged, server, tmp_path, BatchRows=25)
    assert report.outcomes == dict.fromkeys(CASES, "passed"), report.failures
    quality = report.properties["test_metric_matches_registered"]
    assert (quality["problem_type"], quality["metric"]) == (problem_type, metric)
    section = evaluation[build_evaluate().SECTIONS[problem_type]]
    assert float(quality["value"]) == pytest.approx(section[metric]["value"], rel=1e-3)
    width = "1" if problem_type == "binary_classification" else "3"
    assert report.properties["test_response_shape"]["outputs_per_row"] == width


def test_every_gate_metric_is_scored_as_the_model_build_scores_it(seed_checks) -> None:
    """Same rows, same outputs: the staging test's score equals the build's evaluation for every metric."""
    evaluate = build_evaluate()
    rng = np.random.default_rng(0)
    cases = {
        "regression": (rng.normal(10, 3, 200), rng.normal(10, 3, 200)),
        "binary_classification": (rng.integers(0, 2, 200).astype(float), rng.uniform(0, 1, 200)),
        "multiclass_classification": (rng.integers(0, 3, 200).astype(float), rng.dirichlet(np.ones(3), 200)),
    }
    for problem_type, (labels, outputs) in cases.items():
        classes = None if problem_type == "regression" else ["x", "y", "z"][: 2 if "binary" in problem_type else 3]
        description = {"feature_names": ["f"], "problem_type": problem_type, "classes": classes}
        rows = outputs.reshape(len(labels), -1).tolist()
        for metric in evaluate.GATE_METRICS[problem_type]:
            expected = evaluate.evaluate(labels, outputs, description, metric)[evaluate.SECTIONS[problem_type]]
            registered = seed_checks.RegisteredMetric(problem_type, metric, expected[metric]["value"])
            assert seed_checks.score(registered, labels.tolist(), rows) == pytest.approx(
                expected[metric]["value"], rel=1e-9
            ), (problem_type, metric)
