"""The MLOps pipeline's steps against the emulator (moto), a Lambda Invoke stand-in and GitLab's API (responses)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import responses
from mlops_ci import steps
from mlops_ci.image_versions import next_image_version
from mlops_ci.settings import CiError, Settings
from mlops_ci.upstream import fetch
from moto import mock_aws

from local_airflow.lambda_standin import LambdaStandIn, LocalFunction

from .conftest import MODEL_SEED

REGION = "eu-west-1"
ACCOUNT = "123456789012"
RULES = {"major": ["model/contract.json"], "minor": ["Dockerfile", "model/**", "mlops.yaml"]}
ENV = {
    "PROJECT_NAME": "abalone",
    "MODEL_NAME": "xgboost",
    "AWS_REGION": REGION,
    "ECR_REPOSITORY_URI": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/abalone/xgboost",
    "BASE_IMAGE_URI": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/xgboost:cpu",
    "ARTIFACT_BUCKET": "artifacts",
    "MODEL_PACKAGE_GROUP_NAME": "abalone-xgboost",
    "DAG_TRIGGER_FUNCTION": "trigger",
    "CI_PIPELINE_ID": "77",
    "CI_PIPELINE_URL": "https://gitlab.example.com/ml-team/abalone-xgboost-mlops/-/pipelines/77",
}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_environment(ENV)


@pytest.fixture
def aws(monkeypatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("ecr", region_name=REGION).create_repository(repositoryName="abalone/xgboost")
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield


def push(tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + tag.replace(".", "0") * 8},
        "layers": [],
    }
    boto3.client("ecr", region_name=REGION).put_image(
        repositoryName="abalone/xgboost", imageManifest=json.dumps(manifest), imageTag=tag
    )


def test_missing_variables_are_named() -> None:
    with pytest.raises(CiError, match="CI/CD variable DAG_TRIGGER_FUNCTION is not set"):
        Settings.from_environment({**ENV, "DAG_TRIGGER_FUNCTION": ""})
    with pytest.raises(CiError, match="PROJECT_NAME has an unexpected value 'Abalone'"):
        Settings.from_environment({**ENV, "PROJECT_NAME": "Abalone"})


@pytest.mark.parametrize(
    ("changed", "expected", "build"),
    [
        ({}, "1.4.2", False),
        ({"README.md": "x"}, "1.4.3", True),
        ({"model/evaluate.py": "x"}, "1.5.0", True),
        ({"model/contract.json": "x"}, "2.0.0", True),
    ],
)
def test_next_image_version_from_what_changed(changed: dict, expected: str, build: bool) -> None:
    files = {"README.md": "a", "model/evaluate.py": "b", "model/contract.json": "c"}
    decision = next_image_version(
        tags=["1.4.2", "1.3.0", "latest"], newest_record={"files": files}, files={**files, **changed}, rules=RULES
    )
    assert (str(decision.version), decision.build) == (expected, build)


def test_first_image_and_image_without_record() -> None:
    assert str(next_image_version(tags=[], newest_record=None, files={}, rules=RULES).version) == "1.0.0"
    assert str(next_image_version(tags=["1.0.0"], newest_record=None, files={}, rules=RULES).version) == "1.1.0"


def test_version_step_compares_with_the_newest_images_record(aws, settings, tmp_path: Path) -> None:
    source = tmp_path / "model-source"
    (source / "model").mkdir(parents=True)
    (source / "mlops.yaml").write_text((MODEL_SEED / "mlops.yaml").read_text())
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": {"model/evaluate.py": "new", "mlops.yaml": "same"}}))
    push("1.0.0")
    boto3.client("s3", region_name=REGION).put_object(
        Bucket="artifacts",
        Key="abalone/xgboost/images/1.0.0/record.json",
        Body=json.dumps({"files": {"model/evaluate.py": "old", "mlops.yaml": "same"}}),
    )
    decision = steps.decide_version(
        settings,
        source=source,
        manifest=manifest,
        environ={"UPSTREAM_COMMIT_SHA": "abc1234"},
        output=tmp_path / "v.env",
    )
    assert str(decision.version) == "1.1.0"
    assert (tmp_path / "v.env").read_text() == "IMAGE_VERSION=1.1.0\nIMAGE_BUILD=yes\nVERSION_BUMP=minor\n"
    record = json.loads((tmp_path / "image-record.json").read_text())
    assert record["commit"] == "abc1234" and record["hyperparameters"]["num_round"] == "50"


def test_build_image_runs_docker_and_records_the_image(aws, settings, tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> {calls}\nif [ "$1" = login ]; then cat > /dev/null; fi\n')
    docker.chmod(0o755)
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"commit": "abc1234", "files": {}}))
    steps.build_image(settings, source=MODEL_SEED, version="1.0.0", build=True, record_file=record, docker=str(docker))
    lines = calls.read_text().splitlines()
    assert lines[0].startswith("login --username AWS --password-stdin")
    assert f"--build-arg BASE_IMAGE={ENV['BASE_IMAGE_URI']}" in lines[-2]
    assert f"--tag {ENV['ECR_REPOSITORY_URI']}:1.0.0 {MODEL_SEED}" in lines[-2]
    assert lines[-1] == f"push {ENV['ECR_REPOSITORY_URI']}:1.0.0"
    stored = boto3.client("s3", region_name=REGION).get_object(
        Bucket="artifacts", Key="abalone/xgboost/images/1.0.0/record.json"
    )
    assert json.loads(stored["Body"].read())["commit"] == "abc1234"


def test_build_image_skips_an_unchanged_image(aws, settings, tmp_path: Path, capsys) -> None:
    steps.build_image(
        settings,
        source=MODEL_SEED,
        version="1.0.0",
        build=False,
        record_file=tmp_path / "none",
        docker="/nonexistent/docker",
    )
    assert "nothing to build" in capsys.readouterr().out


@pytest.fixture
def lambda_service(monkeypatch) -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    def trigger(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        if event["dag"] == "mlops_deployment" and not event["conf"].get("model_version"):
            raise ValueError("DAG mlops_deployment: invalid request")
        return {"dag": event["dag"], "dag_run_id": event["run_id"], "state": "queued", "created": True}

    with LambdaStandIn({"trigger": LocalFunction(trigger, {})}) as standin:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", standin.url)
        yield events


def test_trigger_training_sends_the_image_and_hyperparameters(aws, settings, lambda_service, capsys) -> None:
    push("1.0.0")
    steps.trigger_training(settings, version="1.0.0", source=MODEL_SEED, environ={"UPSTREAM_COMMIT_SHA": "abc1234"})
    (event,) = lambda_service
    assert event["dag"] == "mlops_training" and event["run_id"] == "gitlab-77-train"
    assert event["conf"]["image_version"] == "1.0.0" and event["conf"]["git_sha"] == "abc1234"
    assert event["conf"]["hyperparameters"]["max_depth"] == "5"
    assert "run gitlab-77-train started" in capsys.readouterr().out


def test_retraining_takes_the_newest_image_and_its_recorded_hyperparameters(aws, settings, lambda_service) -> None:
    for tag in ("1.0.0", "1.2.0", "1.10.0"):
        push(tag)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket="artifacts",
        Key="abalone/xgboost/images/1.10.0/record.json",
        Body=json.dumps({"commit": "def5678", "hyperparameters": {"num_round": "80"}}),
    )
    steps.trigger_training(settings, version=None, source=None, environ={})
    conf = lambda_service[0]["conf"]
    assert (conf["image_version"], conf["hyperparameters"], conf["git_sha"]) == (
        "1.10.0",
        {"num_round": "80"},
        "def5678",
    )


def test_retraining_without_an_image_says_what_to_do(aws, settings, lambda_service) -> None:
    with pytest.raises(CiError, match="no image in .* to retrain: run the model repository's pipeline first"):
        steps.trigger_training(settings, version=None, source=None, environ={})


def register(version: str, image: str, status: str = "PendingManualApproval") -> str:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    try:
        sagemaker.create_model_package_group(ModelPackageGroupName="abalone-xgboost")
    except sagemaker.exceptions.ClientError:
        pass
    return sagemaker.create_model_package(
        ModelPackageGroupName="abalone-xgboost",
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": f"repo:{image}", "ModelDataUrl": "s3://artifacts/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"ModelVersion": version, "ImageVersion": image},
    )["ModelPackageArn"]


def test_approval_approves_the_version_trained_from_the_image_and_deploys_it(aws, settings, lambda_service) -> None:
    register("1.0.0", "1.0.0")
    arn = register("1.1.0", "1.1.0")
    steps.approve_and_deploy(settings, model_version=None, image_version="1.1.0", approver="alice")
    described = boto3.client("sagemaker", region_name=REGION).describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["CustomerMetadataProperties"]["ApprovedBy"] == "alice"
    assert described["CustomerMetadataProperties"]["ModelVersion"] == "1.1.0"
    (event,) = lambda_service
    assert (event["dag"], event["run_id"], event["conf"]["model_version"]) == (
        "mlops_deployment",
        "gitlab-77-deploy",
        "1.1.0",
    )


def test_approval_before_the_version_is_registered_says_to_wait(aws, settings, lambda_service) -> None:
    register("1.0.0", "1.0.0")
    with pytest.raises(CiError, match="holds no a model version trained from image 2.0.0 yet: wait for the training"):
        steps.approve_and_deploy(settings, model_version=None, image_version="2.0.0", approver="alice")
    assert lambda_service == []


def test_a_refused_trigger_fails_the_job_with_the_functions_message(aws, settings, lambda_service) -> None:
    with pytest.raises(CiError, match="the DAG trigger refused: DAG mlops_deployment: invalid request"):
        steps.trigger_dag(settings, dag="mlops_deployment", run_id="r", conf={})


def artifacts_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def source_tar(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


UPSTREAM = {
    "UPSTREAM_MODEL_NAME": "xgboost",
    "UPSTREAM_PROJECT_ID": "101",
    "UPSTREAM_JOB_ID": "5",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_JOB_TOKEN": "job-token-1",
}
ARTIFACTS_URL = "https://gitlab.example.com/api/v4/projects/101/jobs/5/artifacts"


@responses.activate
def test_fetch_downloads_with_the_job_token_and_unpacks(settings, tmp_path: Path) -> None:
    manifest = {"files": {"Dockerfile": "x"}}
    responses.get(
        ARTIFACTS_URL,
        body=artifacts_zip(
            {
                "build/model-source.tar.gz": source_tar({"Dockerfile": b"FROM x"}),
                "build/manifest.json": json.dumps(manifest).encode(),
            }
        ),
        match=[responses.matchers.header_matcher({"JOB-TOKEN": "job-token-1"})],
    )
    assert fetch(settings, UPSTREAM, output=tmp_path / "model-source") == manifest
    assert (tmp_path / "model-source" / "Dockerfile").read_text() == "FROM x"
    assert json.loads((tmp_path / "build" / "manifest.json").read_text()) == manifest


@responses.activate
@pytest.mark.parametrize("status", [403, 404])
def test_fetch_refused_points_at_the_allowlist(settings, tmp_path: Path, status: int) -> None:
    responses.get(ARTIFACTS_URL, status=status, json={"message": "forbidden"})
    with pytest.raises(CiError, match=f"HTTP {status} \\(is this project on the model project's job token allowlist"):
        fetch(settings, UPSTREAM, output=tmp_path / "out")


@responses.activate
def test_fetch_refuses_archives_escaping_the_target(settings, tmp_path: Path) -> None:
    responses.get(
        ARTIFACTS_URL,
        body=artifacts_zip(
            {"build/model-source.tar.gz": source_tar({"../escape.txt": b"x"}), "build/manifest.json": b"{}"}
        ),
    )
    with pytest.raises(CiError, match="cannot be unpacked safely"):
        fetch(settings, UPSTREAM, output=tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_fetch_refuses_another_models_package(settings, tmp_path: Path) -> None:
    with pytest.raises(CiError, match="builds model 'xgboost', the upstream pipeline sent 'torch'"):
        fetch(settings, {**UPSTREAM, "UPSTREAM_MODEL_NAME": "torch"}, output=tmp_path / "out")
