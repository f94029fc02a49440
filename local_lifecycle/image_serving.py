"""The image classifier's local world: a trained model, its registered model package, real digit images.

Shared by `make serve-demo`, `make cost-report` and the tests of the serverless and always-on serving.
Training runs the PyTorch image's own code (`pytorch_container.train`) in `.venv-pytorch`; the model
package is registered in whatever SageMaker and S3 the clients talk to (the emulator here).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTORCH_PYTHON = REPO_ROOT / ".venv-pytorch" / "bin" / "python"
PYTORCH_IMAGE = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/pytorch:cpu"


def train_classifier(job_dir: Path, *, epochs: int = 3) -> Path:
    """Train the digits classifier with the image's training code; the model directory it wrote."""
    if not PYTORCH_PYTHON.is_file():
        raise RuntimeError(f"{PYTORCH_PYTHON} not found: run `make pytorch-env` first")
    (job_dir / "input" / "config").mkdir(parents=True, exist_ok=True)
    (job_dir / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"epochs": str(epochs)}))
    environment = {**os.environ, "SM_ML_ROOT": str(job_dir), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(PYTORCH_PYTHON), "-m", "pytorch_container.train"], env=environment, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"training failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return job_dir / "model"


def pack_model(model_dir: Path, archive: Path) -> Path:
    """`model.tar.gz` as SageMaker packs a training job's model directory (files at the top level)."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


@dataclass(frozen=True)
class RegisteredModel:
    """A model package version registered for a model."""

    arn: str
    group: str
    model_data_url: str


def register_model(
    sagemaker: Any, s3: Any, *, bucket: str, group: str, archive: bytes, approve: bool = True, key: str | None = None
) -> RegisteredModel:
    """Upload `archive` and register it as a new version of `group` (created if missing), approved or pending."""
    groups = sagemaker.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]
    if not any(g["ModelPackageGroupName"] == group for g in groups):
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    versions = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    key = key or f"{group}/v{len(versions) + 1}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=archive)
    url = f"s3://{bucket}/{key}"
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved" if approve else "PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": PYTORCH_IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["image/png", "image/jpeg", "application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    return RegisteredModel(arn=arn, group=group, model_data_url=url)


def set_approval(sagemaker: Any, arn: str, status: str) -> None:
    """Approve or reject a version, as an approver does in the registry."""
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)


@dataclass(frozen=True)
class DigitImage:
    """One handwritten digit of scikit-learn's test split, encoded as a request body."""

    label: str
    body: bytes
    content_type: str


def digit_images(count: int, *, size: int = 8, image_format: str = "PNG", offset: int = 0) -> list[DigitImage]:
    """`count` digits of the test half (training takes the first 898), `size` x `size` pixels (8: as recorded)."""
    digits = load_digits()
    images: list[DigitImage] = []
    for index in range(898 + offset, 898 + offset + count):
        pixels = (digits.images[index] * (255.0 / 16.0)).round().astype(np.uint8)
        picture = Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        picture.save(buffer, format=image_format)
        content_type = "image/png" if image_format == "PNG" else "image/jpeg"
        images.append(DigitImage(str(digits.target[index]), buffer.getvalue(), content_type))
    return images
