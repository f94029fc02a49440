"""Fixtures of the staging tests: the deployed endpoint, its model package and the held-out rows or images.

    python -m pytest test --build-dir build --junitxml build/test-report.xml [--role-arn ARN[,ARN]]

Run after build.py and deploy.py --stage staging. What is tested follows the deployed package: a model of
tabular rows (CSV; tests marked `tabular`) or the image classifier (`ProblemType` image_classification;
tests marked `image_classification`); the other kind's tests are deselected.

Requests go through boto3's `sagemaker-runtime` `invoke_endpoint`; with `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`
set they reach that server instead (local runs). `--endpoint-latency-source` (default
`$ENDPOINT_LATENCY_SOURCE`, else `cloudwatch`) says where the endpoint's own latency comes from: SageMaker's
`ModelLatency` metric in CloudWatch, or (`server-timing`, local runs against the model server itself) its
`Server-Timing` header.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_session import session_for
from staging_checks import (
    LATENCY_SOURCES,
    CheckFailed,
    HeldOutImage,
    held_out_uri,
    is_image_classifier,
    load_test_settings,
    read_test_images,
    read_test_rows,
    wait_in_service,
)

REPO = Path(__file__).resolve().parents[1]
PACKAGE = pytest.StashKey[dict[str, Any]]()
ENDPOINT = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("staging", "the staging endpoint under test")
    group.addoption("--build-dir", type=Path, default=Path("build"), help="build.py's and deploy.py's output")
    group.addoption("--stage-config", type=Path, default=REPO / "staging-config.json", help="settings (Test section)")
    group.addoption("--role-arn", default="", help="role(s) to assume in the staging account; empty: none")
    group.addoption("--poll-seconds", type=float, default=30.0, help="how often to ask whether it is InService")
    group.addoption(
        "--endpoint-latency-source",
        choices=LATENCY_SOURCES,
        default=os.environ.get("ENDPOINT_LATENCY_SOURCE") or "cloudwatch",
        help="where the endpoint's own latency comes from: CloudWatch ModelLatency, or the model server's "
        "Server-Timing header (only when the requests reach the model server itself)",
    )
    group.addoption(
        "--metrics-poll-seconds", type=float, default=15.0, help="how often to ask CloudWatch for ModelLatency"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise pytest.UsageError(f"cannot read {path}: {error}") from None


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The `Test` section of the stage configuration."""
    try:
        return load_test_settings(request.config.getoption("stage_config"))
    except CheckFailed as error:
        raise pytest.UsageError(str(error)) from None


def pytest_configure(config: pytest.Config) -> None:
    """Read the build artifacts first: without them no test can run, and the error says which is missing."""
    build_dir = config.getoption("build_dir")
    config.stash[PACKAGE] = _read_json(build_dir / "model-package.json")
    outputs = _read_json(build_dir / "staging-outputs.json")
    if "EndpointName" not in outputs:
        raise pytest.UsageError(f"{build_dir / 'staging-outputs.json'} has no EndpointName output")
    config.stash[ENDPOINT] = str(outputs["EndpointName"])
    config.addinivalue_line("markers", "tabular: a check of a model of CSV rows (XGBoost, ...)")
    config.addinivalue_line("markers", "image_classification: a check of the image classifier")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the checks of the deployed package's kind of model; deselect the other kind's."""
    other = "tabular" if is_image_classifier(config.stash[PACKAGE]) else "image_classification"
    deselected = [item for item in items if item.get_closest_marker(other)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


@pytest.fixture(scope="session")
def package(request: pytest.FixtureRequest) -> dict[str, Any]:
    """build.py's description of the approved model package (EvaluationUri, ...)."""
    return request.config.stash[PACKAGE]


@pytest.fixture(scope="session")
def endpoint(request: pytest.FixtureRequest) -> str:
    """Name of the staging endpoint, from the staging stack's outputs."""
    return request.config.stash[ENDPOINT]


@pytest.fixture(scope="session")
def clients(request: pytest.FixtureRequest) -> dict[str, Any]:
    """SageMaker, runtime and CloudWatch clients in the staging account; S3 in the project's account."""
    region = os.environ.get("AWS_REGION") or None
    target = session_for(request.config.getoption("role_arn"), region, session_name="gitlab-model-deploy-test")
    return {
        "sagemaker": target.client("sagemaker"),
        "runtime": target.client("sagemaker-runtime"),
        "cloudwatch": target.client("cloudwatch"),
        "s3": boto3.client("s3", region_name=region),  # the artifact bucket is in the project's account
    }


@pytest.fixture(scope="session")
def in_service(request: pytest.FixtureRequest, clients: dict[str, Any], endpoint: str, settings: dict[str, Any]) -> str:
    """The endpoint, once InService (fails every test that needs it otherwise)."""
    try:
        wait_in_service(
            clients["sagemaker"],
            endpoint,
            settings["InServiceTimeoutSeconds"],
            request.config.getoption("poll_seconds"),
        )
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)
    return endpoint


@pytest.fixture(scope="session")
def held_out(clients: dict[str, Any], package: dict[str, Any]) -> tuple[list[float], list[str]]:
    """Labels and feature lines of the model build's test split."""
    try:
        return read_test_rows(clients["s3"], held_out_uri(package["EvaluationUri"], os.environ.get("TEST_DATA_S3_URI")))
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def held_out_images(clients: dict[str, Any], package: dict[str, Any]) -> list[HeldOutImage]:
    """The image classifier's held-out images (`<class>/<image>` of the model build's test split)."""
    try:
        return read_test_images(
            clients["s3"], held_out_uri(package["EvaluationUri"], os.environ.get("TEST_DATA_S3_URI"))
        )
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)
