"""A trained classifier (the PyTorch image's training code), its model packages in the emulated registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from image_serving_support import BUCKET, REGION, Registry
from moto import mock_aws

from local_lifecycle.image_serving import pack_model, train_classifier


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits classifier trained for three epochs by `pytorch_container.train` (about 8 s)."""
    return train_classifier(tmp_path_factory.mktemp("training-job"), epochs=3)


@pytest.fixture(scope="session")
def archive(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Its `model.tar.gz`, as SageMaker packs it."""
    return pack_model(model_dir, tmp_path_factory.mktemp("archive") / "model.tar.gz").read_bytes()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Emulated AWS in this process (dummy credentials, the platform's region)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def registry(aws: None, archive: bytes) -> Registry:
    """A model bucket and an empty registry."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return Registry(sagemaker=boto3.client("sagemaker", region_name=REGION), s3=s3, archive=archive)
