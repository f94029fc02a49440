"""test/test.py against the real model server on a loopback port (S3 and SageMaker in moto)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import numpy as np
import pytest
from xgboost_server.server_support import ServerProcess, make_model_dir, regression_rows

from xgboost_container.server_model import DeviceChoice, load

from .conftest import BUCKET, EVALUATION_URI, EXECUTION_PREFIX, REGION, SEED

pytestmark = pytest.mark.e2e
TEST_KEY = "abalone-pipeline/exec-1/data/test/test.csv"
SETTINGS = {
    "InServiceTimeoutSeconds": 5,
    "BatchRows": 40,
    "MseRelativeTolerance": 0.01,
    "LatencyProbes": 20,
    "P95LatencyMs": 2000,
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("deploy-model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    with ServerProcess(model_dir, tmp_path_factory.mktemp("deploy-server") / "server.log", workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def held_out(model_dir) -> tuple[np.ndarray, np.ndarray, float]:
    """Held-out rows (features, labels) and the MSE the model build would have registered for them."""
    features, labels = regression_rows(150, seed=11)
    model = load(model_dir, DeviceChoice("cpu", "test"))
    mse = float(np.mean((model.predict(features) - labels) ** 2))
    return features, labels, mse


@pytest.fixture
def staging(aws, clients, held_out):
    """The artifact bucket (test split + evaluation.json) and an InService endpoint in moto."""
    features, labels, mse = held_out
    s3 = clients.s3
    s3.create_bucket(Bucket=BUCKET)
    rows = "\n".join(
        ",".join(repr(float(v)) for v in (label, *row)) for label, row in zip(labels, features, strict=True)
    )
    s3.put_object(Bucket=BUCKET, Key=TEST_KEY, Body=rows.encode())
    write_evaluation(s3, mse)
    sagemaker = clients.sagemaker
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
    return {"s3": s3, "sagemaker": sagemaker, "package": {"EvaluationUri": EVALUATION_URI}}


def write_evaluation(s3, mse: float) -> None:
    report = {"regression_metrics": {"mse": {"value": mse, "standard_deviation": 1.0}}}
    s3.put_object(Bucket=BUCKET, Key=EVALUATION_URI.removeprefix(f"s3://{BUCKET}/"), Body=json.dumps(report).encode())


def run(seed_test, staging, server, **settings):
    runtime = boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return seed_test.run_checks(
        sagemaker=staging["sagemaker"],
        runtime=runtime,
        s3=staging["s3"],
        endpoint="abalone-staging",
        package=staging["package"],
        settings={**SETTINGS, **settings},
        test_data_override=None,
        poll_s=0,
    )


def outcome(report) -> dict[str, str]:
    return {case.name: "failed" if case.failure else "skipped" if case.skipped else "passed" for case in report.cases}


def test_every_check_passes_against_the_real_server(seed_test, staging, server, tmp_path):
    report = run(seed_test, staging, server)
    assert outcome(report) == dict.fromkeys(
        ["endpoint_in_service", "response_shape", "mse_matches_registered", "p95_latency"], "passed"
    )
    report.write(tmp_path / "report.xml")
    suite = ET.parse(tmp_path / "report.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "0", "0")
    assert server.log().count("Booting worker") == 1


def test_mse_far_from_the_registered_one_fails(seed_test, staging, server, held_out, tmp_path):
    write_evaluation(staging["s3"], held_out[2] * 2)
    report = run(seed_test, staging, server)
    failure = next(case.failure for case in report.cases if case.name == "mse_matches_registered")
    assert f"registered {held_out[2] * 2:.4f}" in failure and "150 held-out rows" in failure and "1.0%" in failure
    report.write(tmp_path / "report.xml")
    failed = (
        ET.parse(tmp_path / "report.xml").getroot().find("testsuite/testcase[@name='mse_matches_registered']/failure")
    )
    assert failed is not None and "differs from the registered" in failed.get("message")
    assert not report.passed


def test_slow_endpoint_fails_the_latency_bound(seed_test, staging, server):
    report = run(seed_test, staging, server, P95LatencyMs=0.001)
    assert outcome(report)["p95_latency"] == "failed"
    assert "exceeds 0.001 ms" in report.cases[-1].failure


def test_rows_the_server_rejects_fail_the_shape_check_with_its_message(seed_test, staging, server):
    staging["s3"].put_object(Bucket=BUCKET, Key=TEST_KEY, Body=b"10,1,2,3\n11,4,5,6\n")  # 3 features, model has 4
    report = run(seed_test, staging, server)
    assert outcome(report)["response_shape"] == "failed" and outcome(report)["mse_matches_registered"] == "skipped"
    assert "each row must have 4 features" in report.cases[1].failure


class FailedEndpoint:
    def describe_endpoint(self, EndpointName):
        return {
            "EndpointStatus": "Failed",
            "FailureReason": "The primary container did not pass the ping health check.",
        }


def test_failed_endpoint_fails_first_and_skips_the_rest(seed_test, staging, server):
    report = run(seed_test, {**staging, "sagemaker": FailedEndpoint()}, server)
    assert outcome(report) == {
        "endpoint_in_service": "failed",
        "response_shape": "skipped",
        "mse_matches_registered": "skipped",
        "p95_latency": "skipped",
    }
    assert "did not pass the ping health check" in report.cases[0].failure


def test_endpoint_that_stays_creating_times_out(seed_test):
    class Creating:
        def describe_endpoint(self, EndpointName):
            return {"EndpointStatus": "Creating"}

    with pytest.raises(seed_test.CheckFailed, match="still Creating after 0 s"):
        seed_test.wait_in_service(Creating(), "abalone-staging", 0, 0)


def test_main_end_to_end_through_the_runtime_endpoint_variable(seed_test, staging, server, tmp_path, monkeypatch):
    """What the test-staging job runs, with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME pointing at the local server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    monkeypatch.setenv("AWS_REGION", REGION)
    build = tmp_path / "build"
    build.mkdir()
    (build / "model-package.json").write_text(json.dumps(staging["package"]))
    (build / "staging-outputs.json").write_text(json.dumps({"EndpointName": "abalone-staging"}))
    config = tmp_path / "staging-config.json"
    config.write_text(json.dumps({"Test": {**SETTINGS, "LatencyProbes": 5}}))
    report = build / "test-report.xml"
    args = ["--build-dir", str(build), "--config", str(config), "--report", str(report), "--poll-seconds", "0"]
    assert seed_test.main(args) == 0
    assert ET.parse(report).getroot().find("testsuite").get("failures") == "0"


def test_main_without_the_build_artifacts(seed_test, tmp_path, capsys):
    assert seed_test.main(["--build-dir", str(tmp_path), "--config", str(SEED / "staging-config.json")]) == 1
    assert "model-package.json" in capsys.readouterr().err


def test_seed_test_settings_are_valid(seed_test):
    settings = seed_test.load_test_settings(SEED / "staging-config.json")
    assert set(settings) >= set(seed_test.TEST_SETTINGS)


@pytest.mark.parametrize("bad", [{"BatchRows": 0}, {"P95LatencyMs": "fast"}, {"LatencyProbes": None}])
def test_invalid_test_settings_are_named(seed_test, tmp_path, bad):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"Test": {**SETTINGS, **bad}}))
    with pytest.raises(seed_test.CheckFailed, match=f"Test.{next(iter(bad))} must be a positive number"):
        seed_test.load_test_settings(config)


def test_test_data_location(seed_test):
    assert seed_test.test_data_uri(EVALUATION_URI, None) == f"{EXECUTION_PREFIX}/data/test/"
    assert seed_test.test_data_uri(EVALUATION_URI, "s3://other/rows.csv") == "s3://other/rows.csv"
    with pytest.raises(seed_test.CheckFailed, match="TEST_DATA_S3_URI"):
        seed_test.test_data_uri("s3://b/metrics.json", None)


def test_test_split_in_several_files_and_bad_labels(seed_test, aws, clients):
    s3 = clients.s3
    s3.create_bucket(Bucket="test-split")
    s3.put_object(Bucket="test-split", Key="p/data/test/part-1.csv", Body=b"1,0.5,0.5\n")
    s3.put_object(Bucket="test-split", Key="p/data/test/part-0.csv", Body=b"2,0.1,0.2\n\n")
    s3.put_object(Bucket="test-split", Key="p/data/test/_SUCCESS", Body=b"")
    assert seed_test.read_test_rows(s3, "s3://test-split/p/data/test/") == ([2.0, 1.0], ["0.1,0.2", "0.5,0.5"])
    s3.put_object(Bucket="test-split", Key="p/bad.csv", Body=b"rings,length\n")
    with pytest.raises(seed_test.CheckFailed, match="line 1: label 'rings' is not a number"):
        seed_test.read_test_rows(s3, "s3://test-split/p/bad.csv")
    with pytest.raises(seed_test.CheckFailed, match="no CSV files under s3://test-split/empty/"):
        seed_test.read_test_rows(s3, "s3://test-split/empty/")


class CannedRuntime:
    def __init__(self, body: bytes):
        self.body = body

    def invoke_endpoint(self, **_):
        return {"Body": io.BytesIO(self.body)}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"1.0\n", "sent 2 rows, got 1 predictions"),
        (b"1.0\nnan\n", "'nan' is not finite"),
        (b"1.0\nabc\n", "'abc' is not a number"),
    ],
)
def test_response_shape_problems(seed_test, body, fragment):
    with pytest.raises(seed_test.CheckFailed, match=fragment):
        seed_test.invoke_csv(CannedRuntime(body), "e", ["1,2", "3,4"])


def test_percentile_is_nearest_rank(seed_test):
    values = list(range(1, 101))
    assert seed_test.percentile(values, 0.95) == 95
    assert seed_test.percentile([7.0], 0.95) == 7.0
