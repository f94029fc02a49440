"""The pipeline's AWS steps: image version and build, DAG triggers, approval.

Each step prints what it did; failures raise CiError with what to do. boto3 clients come from the
job's credentials (GitLab OIDC: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, see .gitlab-ci.yml).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

from mlops_ci.image_versions import ImageVersion, newest, next_image_version, record
from mlops_ci.semantic_versions import parse_version
from mlops_ci.settings import CiError, Settings

RECORD = "record.json"


def _client(settings: Settings, service: str) -> Any:
    return boto3.client(service, region_name=settings.region)


def model_settings(source: Path) -> dict[str, Any]:
    """mlops.yaml of the model repository."""
    path = source / "mlops.yaml"
    if not path.is_file():
        raise CiError(f"{path} is missing: the model repository must hold mlops.yaml")
    document = yaml.safe_load(path.read_text()) or {}
    hyperparameters = document.get("hyperparameters", {})
    if not isinstance(hyperparameters, dict) or not all(isinstance(v, str) for v in hyperparameters.values()):
        raise CiError(f"{path}: hyperparameters must map names to strings")
    versioning = document.get("versioning", {})
    if not isinstance(versioning, dict) or set(versioning) - {"major", "minor"}:
        raise CiError(f"{path}: versioning takes the keys major and minor (lists of patterns)")
    return {"hyperparameters": hyperparameters, "versioning": versioning}


def image_tags(settings: Settings) -> list[str]:
    """Tags in the model's ECR repository."""
    ecr = _client(settings, "ecr")
    tags: list[str] = []
    for page in ecr.get_paginator("list_images").paginate(repositoryName=settings.repository_name):
        tags += [image["imageTag"] for image in page["imageIds"] if "imageTag" in image]
    return tags


def image_record(settings: Settings, version: str) -> dict[str, Any] | None:
    """The record of a pushed image (None when there is none)."""
    try:
        body = (
            _client(settings, "s3")
            .get_object(Bucket=settings.artifact_bucket, Key=f"{settings.images_prefix}/{version}/{RECORD}")["Body"]
            .read()
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    result: dict[str, Any] = json.loads(body)
    return result


def decide_version(
    settings: Settings, *, source: Path, manifest: Path, environ: Mapping[str, str], output: Path
) -> ImageVersion:
    """Write build/version.env (dotenv: IMAGE_VERSION, IMAGE_BUILD, VERSION_BUMP) and build/image-record.json."""
    files = json.loads(manifest.read_text())["files"]
    model = model_settings(source)
    tags = image_tags(settings)
    latest = newest(tags)
    decision = next_image_version(
        tags=tags,
        newest_record=image_record(settings, str(latest)) if latest else None,
        files=files,
        rules=model["versioning"],
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        f"IMAGE_VERSION={decision.version}\nIMAGE_BUILD={'yes' if decision.build else 'no'}\n"
        f"VERSION_BUMP={decision.bump or ('first' if decision.build else 'none')}\n"
    )
    (output.parent / "image-record.json").write_text(
        record(
            version=decision.version,
            decision=decision,
            files=files,
            commit=environ.get("UPSTREAM_COMMIT_SHA", ""),
            pipeline=environ.get("UPSTREAM_PIPELINE_URL", settings.pipeline_url),
            hyperparameters=model["hyperparameters"],
        )
    )
    print(f"version: image {settings.repository_uri}:{decision.version} ({decision.reason})")
    return decision


def build_image(
    settings: Settings, *, source: Path, version: str, build: bool, record_file: Path, docker: str = "docker"
) -> None:
    """docker build and push `<repository>:<version>`, then store the image's record."""
    if not build:
        print(f"build-image: {settings.repository_uri}:{version} exists and nothing changed; nothing to build")
        return
    if not settings.base_image_uri:
        raise CiError("CI/CD variable BASE_IMAGE_URI is not set (the platform's XGBoost image)")
    token = _client(settings, "ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().split(":", 1)[1]
    for registry in sorted({settings.registry, settings.base_image_uri.split("/", 1)[0]}):
        _docker([docker, "login", "--username", "AWS", "--password-stdin", registry], stdin=password)
    image = f"{settings.repository_uri}:{version}"
    record_document = json.loads(record_file.read_text())
    _docker(
        [
            docker,
            "build",
            "--build-arg",
            f"BASE_IMAGE={settings.base_image_uri}",
            "--label",
            f"org.opencontainers.image.version={version}",
            "--label",
            f"org.opencontainers.image.revision={record_document.get('commit', '')}",
            "--tag",
            image,
            str(source),
        ]
    )
    _docker([docker, "push", image])
    _client(settings, "s3").put_object(
        Bucket=settings.artifact_bucket,
        Key=f"{settings.images_prefix}/{version}/{RECORD}",
        Body=record_file.read_bytes(),
        ContentType="application/json",
    )
    print(f"build-image: pushed {image} and its record")


def _docker(command: list[str], *, stdin: str | None = None) -> None:
    shown = " ".join(command)
    result = subprocess.run(command, input=stdin, text=True, capture_output=True, check=False)
    print(f"$ {shown}")
    if result.returncode != 0:
        raise CiError(f"{shown} failed ({result.returncode}): {result.stderr.strip()[-800:]}")


def trigger_dag(settings: Settings, *, dag: str, run_id: str, conf: Mapping[str, Any]) -> dict[str, Any]:
    """Invoke the DAG trigger Lambda; CiError with its message when no run was started."""
    response = _client(settings, "lambda").invoke(
        FunctionName=settings.trigger_function,
        Payload=json.dumps({"dag": dag, "run_id": run_id, "conf": dict(conf), "note": settings.pipeline_url}).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise CiError(f"the DAG trigger refused: {payload.get('errorMessage', payload)}")
    state = "started" if payload.get("created") else "was already started"
    print(f"trigger: DAG {payload.get('dag')} run {payload.get('dag_run_id')} {state} ({payload.get('state')})")
    return dict(payload)


def trigger_training(
    settings: Settings, *, version: str | None, source: Path | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Start the training DAG for an image version (retraining: the newest image, with its record's hyperparameters)."""
    if version is None:
        latest = newest(image_tags(settings))
        if latest is None:
            raise CiError(
                f"no image in {settings.repository_uri} to retrain: run the model repository's pipeline first"
            )
        version = str(latest)
    stored = image_record(settings, version)
    if source is not None:
        hyperparameters = model_settings(source)["hyperparameters"]
    elif stored is not None:
        hyperparameters = stored.get("hyperparameters", {})
    else:
        raise CiError(f"image {version} has no record with its hyperparameters")
    commit = environ.get("UPSTREAM_COMMIT_SHA") or (stored or {}).get("commit", "")
    conf = {
        "project": settings.project,
        "model": settings.model,
        "image_version": version,
        "git_sha": commit,
        "source": settings.pipeline_url,
        "hyperparameters": hyperparameters,
    }
    return trigger_dag(settings, dag=settings.training_dag, run_id=f"gitlab-{settings.pipeline_id}-train", conf=conf)


def _versions(settings: Settings) -> list[dict[str, Any]]:
    sagemaker = _client(settings, "sagemaker")
    described = []
    for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=settings.package_group):
        for summary in page["ModelPackageSummaryList"]:
            described.append(sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"]))
    return described


def approve_and_deploy(
    settings: Settings, *, model_version: str | None, image_version: str | None, approver: str
) -> dict[str, Any]:
    """Approve the model version (given, or the newest trained from `image_version`) and start the deployment DAG."""
    candidates = []
    for package in _versions(settings):
        metadata = package.get("CustomerMetadataProperties") or {}
        if model_version and metadata.get("ModelVersion") == model_version:
            candidates.append(package)
        elif not model_version and image_version and metadata.get("ImageVersion") == image_version:
            candidates.append(package)
    if not candidates:
        wanted = (
            f"model version {model_version}" if model_version else f"a model version trained from image {image_version}"
        )
        raise CiError(
            f"{settings.package_group} holds no {wanted} yet: wait for the training DAG's notification, "
            "then retry this job"
        )
    package = max(candidates, key=lambda item: parse_version(item["CustomerMetadataProperties"]["ModelVersion"]))
    version = package["CustomerMetadataProperties"]["ModelVersion"]
    if package["ModelApprovalStatus"] != "Approved":
        # The whole metadata is sent back with the approval record, so it stays complete whatever the merge rule.
        _client(settings, "sagemaker").update_model_package(
            ModelPackageArn=package["ModelPackageArn"],
            ModelApprovalStatus="Approved",
            ApprovalDescription=f"Approved in GitLab by {approver}: {settings.pipeline_url}"[:1024],
            CustomerMetadataProperties={
                **package["CustomerMetadataProperties"],
                "ApprovedBy": approver,
                "ApprovalPipeline": settings.pipeline_url or settings.pipeline_id,
            },
        )
        print(f"approve: {settings.package_group} version {version} approved by {approver}")
    else:
        print(f"approve: {settings.package_group} version {version} was already approved")
    conf = {
        "project": settings.project,
        "model": settings.model,
        "model_version": version,
        "source": settings.pipeline_url,
    }
    return trigger_dag(settings, dag=settings.deployment_dag, run_id=f"gitlab-{settings.pipeline_id}-deploy", conf=conf)
