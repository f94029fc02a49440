"""Fixtures of the model deploy seed tests: its scripts loaded by path, moto, and a model registry."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import boto3
import pytest
from moto import mock_aws

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "seedcode" / "model-deploy"
REGION = "us-east-1"
GROUP = "abalone-p-abc123"
BUCKET = "sagemaker-project-p-abc123"
EXECUTION_PREFIX = f"s3://{BUCKET}/abalone-pipeline/exec-1"
EVALUATION_URI = f"{EXECUTION_PREFIX}/evaluation/evaluation.json"
CPU_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/xgboost:cpu"
GPU_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/xgboost:gpu"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


def load_seed_module(relative: str) -> ModuleType:
    """Import a script of the seed repository under a name no other test uses.

    No `__pycache__` is written into the seed directory (it is pushed to GitLab as it is).
    """
    name = "model_deploy_seed_" + relative.replace("/", "_").removesuffix(".py")
    if str(SEED) not in sys.path:  # the scripts import the repository's own modules (aws_session)
        sys.path.insert(0, str(SEED))
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SEED / relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            spec.loader.exec_module(module)
        finally:
            sys.dont_write_bytecode = writes_bytecode
    return sys.modules[name]


@pytest.fixture(scope="session")
def seed_build() -> ModuleType:
    return load_seed_module("build.py")


@pytest.fixture(scope="session")
def seed_deploy() -> ModuleType:
    return load_seed_module("deploy.py")


@pytest.fixture(scope="session")
def seed_checks() -> ModuleType:
    if str(SEED / "test") not in sys.path:  # the staging tests import it as the seed's pytest config does
        sys.path.insert(0, str(SEED / "test"))
    return load_seed_module("test/staging_checks.py")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto in process, dummy credentials, no endpoint overrides from the caller's environment."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def moto_client(service: str):
    """A boto3 client with dummy credentials; moto intercepts it inside any `mock_aws()`.

    Creating clients costs about 0.2 s each, so the tests share one per service.
    """
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="session")
def clients():
    """Shared clients: `.sagemaker`, `.cloudformation`, `.s3`, `.sts`."""
    return SimpleNamespace(
        **{name.replace("-", "_"): moto_client(name) for name in ("sagemaker", "cloudformation", "s3", "sts")}
    )


class Registry:
    """A model package group in moto and helpers to register versions into it."""

    def __init__(self, client, group: str = GROUP):
        self.client = client
        self.group = group
        self.client.create_model_package_group(ModelPackageGroupName=group)

    def register(
        self,
        status: str = "Approved",
        *,
        gpu_image: str | None = GPU_IMAGE,
        evaluation_uri: str = EVALUATION_URI,
        group: str | None = None,
    ) -> str:
        """Register a version like the model build does; return its ARN."""
        metadata = {"CpuImageUri": CPU_IMAGE, **({"GpuImageUri": gpu_image} if gpu_image else {})}
        return self.client.create_model_package(
            ModelPackageGroupName=group or self.group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": CPU_IMAGE, "ModelDataUrl": f"{EXECUTION_PREFIX}/model/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties=metadata,
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}}},
        )["ModelPackageArn"]


@pytest.fixture
def registry(aws, clients) -> Registry:
    return Registry(clients.sagemaker)


@pytest.fixture
def project_env() -> dict[str, str]:
    """The CI/CD variables the deploy repository gets."""
    return {
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "SAGEMAKER_PROJECT_NAME": "abalone",
        "SAGEMAKER_PROJECT_ID": "p-abc123",
        "SAGEMAKER_EXECUTION_ROLE_ARN": ROLE,
        "ARTIFACT_BUCKET": BUCKET,
        "AWS_REGION": REGION,
        "STAGING_INSTANCE_TYPE": "ml.m5.large",
        "PROD_INSTANCE_TYPE": "ml.c5.xlarge",
    }


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
