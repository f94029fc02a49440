"""Fetching an approved model package's model: the version resolved, the archive refused when unsafe, the cache."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import pytest
from image_serving_support import BUCKET, GROUP, Registry

from local_lifecycle.image_serving import set_approval
from model_fetch.__main__ import install
from model_fetch.download import ArchiveRefused, fetch
from model_fetch.registry import ModelNotAvailable, latest_approved


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def test_the_newest_approved_version_is_chosen(registry: Registry) -> None:
    first = registry.register()
    registry.register(approve=False)
    assert latest_approved(registry.sagemaker, GROUP).arn == first.arn
    third = registry.register()
    assert latest_approved(registry.sagemaker, GROUP).arn == third.arn
    set_approval(registry.sagemaker, third.arn, "Rejected")
    assert latest_approved(registry.sagemaker, GROUP).arn == first.arn


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([(member("../escape.txt"), b"x")], "unsafe member"),
        ([(member("hard", tarfile.LNKTYPE, "../../etc/passwd"), b"")], "unsafe member"),
        ([(member("link", tarfile.SYMTYPE, "/etc/passwd"), b"")], "unsafe member"),
        ([(member("device", tarfile.CHRTYPE), b"")], "unsafe member"),
    ],
)
def test_an_unsafe_archive_is_refused_and_leaves_nothing_behind(
    registry: Registry, tmp_path: Path, members: list, reason: str
) -> None:
    version = latest_approved(registry.sagemaker, registry.register(archive=tar_of(*members)).group)
    with pytest.raises(ArchiveRefused, match=reason):
        fetch(registry.s3, version, tmp_path / "cache", allowed_buckets={BUCKET})
    assert list((tmp_path / "cache").iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_limits_and_the_bucket_allowlist(registry: Registry, tmp_path: Path) -> None:
    version = latest_approved(registry.sagemaker, registry.register().group)
    with pytest.raises(ArchiveRefused, match="more than the limit of 1,000"):
        fetch(registry.s3, version, tmp_path, allowed_buckets={BUCKET}, max_bytes=1000)
    with pytest.raises(ModelNotAvailable, match=f"in bucket '{BUCKET}', not one of the configured model buckets"):
        fetch(registry.s3, version, tmp_path, allowed_buckets={"other-bucket"})
    with pytest.raises(ArchiveRefused, match="has no weights.bin"):
        fetch(registry.s3, version, tmp_path, allowed_buckets={BUCKET}, only={"model-metadata.json", "weights.bin"})
    registry.s3.put_object(Bucket=BUCKET, Key="garbage/model.tar.gz", Body=b"not gzip")
    registry.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "x", "ModelDataUrl": f"s3://{BUCKET}/garbage/model.tar.gz"}],
            "SupportedContentTypes": ["image/png"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )
    with pytest.raises(ArchiveRefused, match="not a readable .tar.gz"):
        fetch(registry.s3, latest_approved(registry.sagemaker, GROUP), tmp_path, allowed_buckets={BUCKET})


def test_a_version_already_unpacked_is_not_downloaded_again(registry: Registry, tmp_path: Path) -> None:
    registered = registry.register()
    version = latest_approved(registry.sagemaker, GROUP)
    first = fetch(registry.s3, version, tmp_path, allowed_buckets={BUCKET})
    bucket, key = registered.model_data_url.removeprefix("s3://").split("/", 1)
    registry.s3.delete_object(Bucket=bucket, Key=key)
    assert fetch(registry.s3, version, tmp_path, allowed_buckets={BUCKET}) == first
    assert json.loads((first / "model-metadata.json").read_text())["arch"] == "cnn"


def test_the_init_container_installs_the_approved_model_readable_by_the_server(
    registry: Registry, tmp_path: Path
) -> None:
    registered = registry.register()
    environment = {"MODEL_PACKAGE_GROUP": GROUP, "MODEL_BUCKETS": f"{BUCKET}", "MODEL_DIR": str(tmp_path / "model")}
    installed = install(registry.sagemaker, registry.s3, environment, scratch=tmp_path)
    model = tmp_path / "model"
    assert installed["model_package_arn"] == registered.arn and installed["version"] == 1
    assert {"model-metadata.json", "model-int8.onnx", "weights.pt"} <= set(installed["files"])  # type: ignore[arg-type]
    assert not (model / ".model-package").exists()
    for path in model.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), path
    (model / "stale-from-another-version.bin").write_bytes(b"old")
    second = registry.register()
    assert install(registry.sagemaker, registry.s3, environment, scratch=tmp_path)["model_package_arn"] == second.arn
    assert not (model / "stale-from-another-version.bin").exists() and (model / "model-int8.onnx").is_file()


def test_the_init_container_refuses_a_pinned_version_of_another_group_and_a_missing_setting(
    registry: Registry, tmp_path: Path
) -> None:
    other = registry.register(group="another-classifier")
    environment = {"MODEL_PACKAGE_GROUP": GROUP, "MODEL_BUCKETS": BUCKET, "MODEL_DIR": str(tmp_path / "m")}
    with pytest.raises(ModelNotAvailable, match="is a version of 'another-classifier', not of 'digits-classifier'"):
        install(registry.sagemaker, registry.s3, {**environment, "MODEL_PACKAGE_ARN": other.arn})
    with pytest.raises(ModelNotAvailable, match="MODEL_BUCKETS not set"):
        install(registry.sagemaker, registry.s3, {**environment, "MODEL_BUCKETS": ""})
    with pytest.raises(ModelNotAvailable, match="has no approved version"):
        install(registry.sagemaker, registry.s3, environment)
