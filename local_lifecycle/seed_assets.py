"""The seed-code assets of the product template, staged in the emulator's S3 as `cdk deploy` would."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from local_lifecycle.steps import StepFailed

SEED_PROPERTIES = ("ModelBuildSeedCode", "ModelDeploySeedCode")


def upload_seed_assets(s3: Any, *, cdk_out: Path, properties: dict[str, Any], region: str) -> None:
    """Zip each seed asset directory of `cdk_out` to the bucket and key the custom resource names."""
    for seed in SEED_PROPERTIES:
        location = properties[seed]
        staged = cdk_out / f"asset.{location['Key'].removesuffix('.zip')}"
        if not staged.is_dir():
            raise StepFailed(f"seed-code asset {staged} is missing from {cdk_out}")
        try:
            s3.head_bucket(Bucket=location["Bucket"])
        except s3.exceptions.ClientError:
            s3.create_bucket(Bucket=location["Bucket"], CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_object(Bucket=location["Bucket"], Key=location["Key"], Body=zip_directory(staged))


def zip_directory(directory: Path) -> bytes:
    """The files under `directory` as a zip archive (paths relative to it, in sorted order)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()
