"""Reading seed repositories from zips in S3."""

from __future__ import annotations

import io
import stat
import zipfile

import boto3
import pytest
from lambda_test_support import REGION, make_zip

from seed_code_checkin import seed
from seed_code_checkin.properties import SeedCodeLocation
from seed_code_checkin.seed import SeedCodeError, load_seed_from_s3, unpack_seed_zip


def test_unpack_returns_every_file_by_repository_path() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pipelines/", b"")  # a directory entry
        archive.writestr("pipelines/abalone/pipeline.py", b"print(1)\n")
        archive.writestr("./.gitlab-ci.yml", b"stages: []\n")
        archive.writestr("data\\sample.bin", b"\x00\xff")  # written on Windows

    files = unpack_seed_zip(buffer.getvalue(), source="s3://b/k")

    assert files == {
        "pipelines/abalone/pipeline.py": b"print(1)\n",
        ".gitlab-ci.yml": b"stages: []\n",
        "data/sample.bin": b"\x00\xff",
    }


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/passwd", "..\\evil.py"])
def test_entries_escaping_the_root_are_rejected(name: str) -> None:
    with pytest.raises(SeedCodeError, match=r"s3://b/k has an entry outside the repository root"):
        unpack_seed_zip(make_zip({"ok.txt": b"x", name: b"x"}), source="s3://b/k")


def test_symbolic_links_are_rejected() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    with pytest.raises(SeedCodeError, match="symbolic link 'link'"):
        unpack_seed_zip(buffer.getvalue(), source="s3://b/k")


def test_invalid_and_empty_archives_are_rejected() -> None:
    with pytest.raises(SeedCodeError, match="s3://b/k is not a valid zip file"):
        unpack_seed_zip(b"not a zip", source="s3://b/k")
    with pytest.raises(SeedCodeError, match="contains no files"):
        unpack_seed_zip(make_zip({}), source="s3://b/k")


def test_oversized_archives_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed, "MAX_SEED_BYTES", 10)

    with pytest.raises(SeedCodeError, match="more than 10 bytes"):
        unpack_seed_zip(make_zip({"big.txt": b"x" * 11}), source="s3://b/k")


def test_load_from_s3(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="assets")
    s3.put_object(Bucket="assets", Key="seed/build.zip", Body=make_zip({"README.md": b"hi"}))

    assert load_seed_from_s3(SeedCodeLocation(Bucket="assets", Key="seed/build.zip")) == {"README.md": b"hi"}


def test_missing_seed_object_is_named(aws: None) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="assets")

    with pytest.raises(SeedCodeError, match=r"s3://assets/missing.zip \(NoSuchKey\)"):
        load_seed_from_s3(SeedCodeLocation(Bucket="assets", Key="missing.zip"))
