"""Download a `model.tar.gz` from S3 and unpack it safely into a directory, once per model version.

The archive is untrusted input: only regular files and directories are unpacked, under the target
directory (tarfile's `data` filter refuses links out, absolute paths, `..`, devices), within a byte
limit for the download and for the unpacked files. A version is unpacked into a directory of its own
named by a hash of its ARN and marked complete last, so a crash mid-way never leaves a half model that
a later start would take for a whole one.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from model_fetch.registry import ModelNotAvailable, ModelVersion

COMPLETE_MARKER = ".model-package"
DEFAULT_MAX_BYTES = 400 * 1024 * 1024


class ArchiveRefused(ModelNotAvailable):
    """The model data is not a safe, readable archive within the limits; the message says why."""


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` URL."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ModelNotAvailable(f"model data URL {url!r} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


def version_dir(cache_root: Path, version: ModelVersion) -> Path:
    """The directory that holds (or will hold) `version`'s unpacked model."""
    return cache_root / hashlib.sha256(version.arn.encode()).hexdigest()[:24]


def is_complete(directory: Path, version: ModelVersion) -> bool:
    """True when `directory` holds the whole of `version`'s model."""
    marker = directory / COMPLETE_MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == version.arn


def fetch(
    s3: Any,
    version: ModelVersion,
    cache_root: Path,
    *,
    allowed_buckets: Collection[str],
    only: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Path:
    """The directory holding `version`'s unpacked model, downloading it unless it is there already.

    `only` restricts unpacking to these file names (at the archive's top level); `allowed_buckets`
    are the buckets model data may come from (the IAM grants name the same ones).
    """
    target = version_dir(cache_root, version)
    if is_complete(target, version):
        return target
    bucket, key = split_s3_url(version.model_data_url)
    if bucket not in allowed_buckets:
        raise ModelNotAvailable(
            f"model data of {version.arn} is in bucket {bucket!r}, not one of the configured model buckets "
            f"{sorted(allowed_buckets)}"
        )
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=cache_root))
    try:
        archive = staging / "model.tar.gz"
        _download(s3, bucket, key, archive, max_bytes=max_bytes)
        unpacked = staging / "model"
        _unpack(archive, unpacked, only=only, max_bytes=max_bytes)
        (unpacked / COMPLETE_MARKER).write_text(version.arn, encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(s3: Any, bucket: str, key: str, path: Path, *, max_bytes: int) -> None:
    response = s3.get_object(Bucket=bucket, Key=key)
    size = int(response["ContentLength"])
    if size > max_bytes:
        response["Body"].close()
        raise ArchiveRefused(f"s3://{bucket}/{key} is {size:,} bytes, more than the limit of {max_bytes:,}")
    with path.open("wb") as file:
        for chunk in response["Body"].iter_chunks(1024 * 1024):
            file.write(chunk)


def _unpack(archive: Path, target: Path, *, only: Collection[str] | None, max_bytes: int) -> None:
    target.mkdir()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if only is None or m.name.removeprefix("./") in only]
            total = sum(member.size for member in members if member.isfile())
            if total > max_bytes:
                raise ArchiveRefused(f"the model archive unpacks to {total:,} bytes, more than {max_bytes:,}")
            missing = sorted(set(only or ()) - {m.name.removeprefix("./") for m in members})
            if missing:
                raise ArchiveRefused(f"the model archive has no {', '.join(missing)}")
            tar.extractall(target, members=members, filter="data")
    except tarfile.FilterError as error:
        raise ArchiveRefused(f"the model archive holds an unsafe member: {error}") from None
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveRefused(f"the model data is not a readable .tar.gz archive: {error}") from None


def prune(cache_root: Path, keep: Collection[Path]) -> None:
    """Remove every unpacked model under `cache_root` but those in `keep` (Lambda's /tmp is small)."""
    if not cache_root.is_dir():
        return
    kept = {path.resolve() for path in keep}
    for entry in cache_root.iterdir():
        if entry.is_dir() and entry.resolve() not in kept:
            shutil.rmtree(entry, ignore_errors=True)
