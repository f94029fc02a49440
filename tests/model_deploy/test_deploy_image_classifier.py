"""The deploy repo's staging tests (test/, pytest) against the image classifier served by `pytorch-serve`.

The model is the digits classifier trained by the PyTorch image's own training code (three epochs, in
`.venv-pytorch`); `pytorch-serve` (the command the image runs for `serve`) serves it on a loopback port.
The seed's staging tests run as the test-staging job runs them, in a subprocess, with S3 and SageMaker in
the emulator holding what the image pipeline leaves there: the held-out `<class>/<image>.png` files of
the test split and an evaluation.json with the registered accuracy (the training job's own measure).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_lifecycle.emulator import Emulator
from local_lifecycle.image_serving import PYTORCH_PYTHON, digit_images, train_classifier
from local_lifecycle.processes import free_port, wait_until_answering
from local_lifecycle.staging_report import StagingReport, read_staging_report

from .conftest import BUCKET, EVALUATION_URI, EXECUTION_PREFIX, REGION, SEED

pytestmark = pytest.mark.e2e
ENGINE = "onnx"
ENDPOINT = "digits-staging"
IMAGES = 899  # the whole test split of the training job (images 898 to 1796), where it measured its accuracy
SETTINGS = {
    "InServiceTimeoutSeconds": 5,
    "BatchRows": 40,
    "MetricRelativeTolerance": 0.05,
    "AccuracyFloor": 0.9,
    "LatencyProbes": 1000,
    "LatencyLimitsMs": {"p50": 2000, "p90": 2000, "p99": 2000},
    "ModelLatencyLimitsMs": {"p50": 2000, "p90": 2000, "p99": 2000},
    "EndpointMetricsTimeoutSeconds": 5,
}
IMAGE_CASES = [
    "test_endpoint_in_service",
    "test_top_k_answers",
    "test_classifier_quality",
    "test_latency_percentiles",
    "test_model_latency_at_the_endpoint",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_classifier(tmp_path_factory.mktemp("digits-training-job"), epochs=3)


@pytest.fixture(scope="module")
def shuffled_model_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model with its class names rotated: every answer names the wrong digit."""
    shuffled = tmp_path_factory.mktemp("shuffled") / "model"
    shutil.copytree(model_dir, shuffled)
    metadata_path = shuffled / "model-metadata.json"
    metadata = json.loads(metadata_path.read_text())
    names = metadata["class_names"]
    metadata["class_names"] = names[1:] + names[:1]
    metadata_path.write_text(json.dumps(metadata))
    return shuffled


def serve(model_dir: Path, log_path: Path) -> Iterator[str]:
    """`pytorch-serve` on loopback (one worker, the registered engine); yields its URL.

    The server runs in a process group of its own, ended as a whole: on SIGTERM its worker logs
    "Worker exiting" and then lingers until gunicorn's 30 s graceful timeout kills it, so stopping the
    master alone (local_lifecycle.processes.stop waits 10 s, then kills it) would leave the worker behind.
    """
    port = free_port()
    command = [str(PYTORCH_PYTHON), "-m", "pytorch_container.serve", "--model-dir", str(model_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    environment = {**os.environ, "MODEL_ENGINE": ENGINE, "MODEL_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(process, f"{url}/ping", what="pytorch-serve", log_path=log_path, timeout=90)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(model_dir, tmp_path_factory.mktemp("digits-server") / "server.log")


@pytest.fixture(scope="module")
def shuffled_server(shuffled_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(shuffled_model_dir, tmp_path_factory.mktemp("shuffled-server") / "server.log")


@pytest.fixture(scope="module")
def registered_accuracy(model_dir: Path) -> float:
    """The test accuracy of the served engine the training job measured (what the model build registers)."""
    return float(json.loads((model_dir / "metrics.json").read_text())["test_accuracy"][ENGINE])


@pytest.fixture(scope="module")
def staging(registered_accuracy: float) -> Iterator[Emulator]:
    """The artifact bucket (held-out images + evaluation.json) and an InService endpoint in the emulator."""
    with Emulator(region=REGION) as emulator:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        test_prefix = f"{EXECUTION_PREFIX.removeprefix(f's3://{BUCKET}/')}/data/test"
        for index, image in enumerate(digit_images(IMAGES)):
            s3.put_object(Bucket=BUCKET, Key=f"{test_prefix}/{image.label}/{index:04d}.png", Body=image.body)
        report = {
            "problem_type": "image_classification",
            "metric": "accuracy",
            "multiclass_classification_metrics": {
                "accuracy": {"value": registered_accuracy, "standard_deviation": 0.01}
            },
        }
        s3.put_object(
            Bucket=BUCKET, Key=EVALUATION_URI.removeprefix(f"s3://{BUCKET}/"), Body=json.dumps(report).encode()
        )
        sagemaker = emulator.client("sagemaker")
        sagemaker.create_model(
            ModelName="digits",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer={"Image": "pytorch:cpu", "ModelDataUrl": "s3://b/m.tar.gz"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="digits",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "digits",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="digits")
        yield emulator


def run_staging_tests(emulator: Emulator, server_url: str, run_dir: Path, **settings: Any) -> StagingReport:
    """What the test-staging job runs, in the seed repository, for the image classifier's package."""
    build = run_dir / "build"
    build.mkdir(parents=True, exist_ok=True)
    package = {"EvaluationUri": EVALUATION_URI, "ProblemType": "image_classification", "ModelEngine": ENGINE}
    (build / "model-package.json").write_text(json.dumps(package))
    (build / "staging-outputs.json").write_text(json.dumps({"EndpointName": ENDPOINT}))
    config = run_dir / "staging-config.json"
    config.write_text(json.dumps({"Test": {**SETTINGS, **settings}}))
    report = build / "test-report.xml"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **emulator.environment(),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server_url,
        "ENDPOINT_LATENCY_SOURCE": "server-timing",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-m", "pytest", "test", "--build-dir", str(build), "--stage-config", str(config)]
    command += ["--poll-seconds", "1", "--junitxml", str(report), "-q"]
    subprocess.run(command, cwd=SEED, env=env, check=False, capture_output=True, text=True, timeout=300)
    return read_staging_report(report)


def test_the_image_classifier_passes_then_fails_a_floor_above_its_accuracy(
    staging: Emulator, server: str, registered_accuracy: float, tmp_path: Path
) -> None:
    report = run_staging_tests(staging, server, tmp_path / "pass")
    # The tabular checks (CSV rows) are deselected: the package is the image classifier.
    assert report.outcomes == dict.fromkeys(IMAGE_CASES, "passed"), report.failures
    answers = report.properties["test_top_k_answers"]
    assert answers == {"images": str(IMAGES), "classes": "10", "top_k": "3"}
    quality = report.properties["test_classifier_quality"]
    assert (quality["problem_type"], quality["metric"]) == ("image_classification", "accuracy")
    accuracy = float(quality["accuracy"])
    assert accuracy == float(quality["value"]) and accuracy >= SETTINGS["AccuracyFloor"]
    # The same images the training job scored, through the served engine: the accuracy it measured.
    assert accuracy == pytest.approx(registered_accuracy, abs=0.01)
    latency = report.properties["test_latency_percentiles"]
    assert len(json.loads(latency["latencies_ms"])) == SETTINGS["LatencyProbes"]
    model = report.properties["test_model_latency_at_the_endpoint"]
    assert (model["source"], model["samples"]) == ("server-timing", "1000")
    assert 0 < float(model["p50_ms"]) < float(latency["p50_ms"])

    floor = round(accuracy + 0.001, 4)
    assert floor <= 1, "the model classified every held-out image: no floor above its accuracy"
    strict = run_staging_tests(staging, server, tmp_path / "floor", AccuracyFloor=floor)
    assert strict.outcomes["test_classifier_quality"] == "failed"
    assert strict.outcomes["test_top_k_answers"] == "passed"
    failure = strict.failures["test_classifier_quality"]
    assert f"accuracy {accuracy:.4f} on {IMAGES} held-out images is below the floor {floor:g}" in failure
    assert "registered" not in failure


def test_a_server_that_names_the_wrong_classes_fails_quality(
    staging: Emulator, shuffled_server: str, registered_accuracy: float, tmp_path: Path
) -> None:
    report = run_staging_tests(staging, shuffled_server, tmp_path)
    # Its answers are well-formed top-k lists, so only the quality check catches it.
    assert report.outcomes["test_top_k_answers"] == "passed"
    assert report.outcomes["test_classifier_quality"] == "failed"
    failure = report.failures["test_classifier_quality"]
    assert "is below the floor 0.9" in failure
    assert f"differs from the registered {registered_accuracy:.4f}" in failure
    assert float(report.properties["test_classifier_quality"]["accuracy"]) < 0.2
    assert not report.passed
