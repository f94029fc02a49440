"""Read a seed repository from its zip in S3 into memory ({repository path: content})."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import PurePosixPath
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .properties import SeedCodeLocation

# Seed repositories are a few hundred kB; anything near this limit is a packaging mistake,
# and it keeps a corrupt or hostile archive from exhausting the Lambda's memory.
MAX_SEED_BYTES = 50 * 1024 * 1024

_BOTO_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})


class SeedCodeError(Exception):
    """The seed-code zip could not be read or is unsafe."""


def load_seed_from_s3(location: SeedCodeLocation, *, s3_client: Any | None = None) -> dict[str, bytes]:
    """Download the zip at ``location`` and return its files (see ``unpack_seed_zip``)."""
    uri = f"s3://{location.bucket}/{location.key}"
    s3 = s3_client or boto3.client("s3", config=_BOTO_CONFIG)
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise SeedCodeError(
            f"Could not download the seed code {uri} ({code}): check that the object exists and "
            "that the Lambda's role may s3:GetObject it."
        ) from exc
    except BotoCoreError as exc:
        raise SeedCodeError(f"Could not download the seed code {uri}: {exc}") from exc
    return unpack_seed_zip(body, source=uri)


def unpack_seed_zip(data: bytes, *, source: str) -> dict[str, bytes]:
    """Return {relative POSIX path: content} for every file in the zip ``data``.

    Raises ``SeedCodeError`` (naming ``source``) for an invalid or empty archive, an entry
    escaping the repository root (absolute path, ``..``), a symbolic link, or more than
    ``MAX_SEED_BYTES`` of content.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SeedCodeError(f"The seed code {source} is not a valid zip file: {exc}") from exc
    files: dict[str, bytes] = {}
    with archive:
        entries = [entry for entry in archive.infolist() if not entry.is_dir()]
        if sum(entry.file_size for entry in entries) > MAX_SEED_BYTES:
            raise SeedCodeError(f"The seed code {source} unpacks to more than {MAX_SEED_BYTES} bytes.")
        for entry in entries:
            path = _safe_path(entry.filename, source=source)
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise SeedCodeError(
                    f"The seed code {source} contains the symbolic link '{entry.filename}'; "
                    "package the file it points to instead."
                )
            files[path] = archive.read(entry)
    if not files:
        raise SeedCodeError(f"The seed code {source} contains no files.")
    return files


def _safe_path(name: str, *, source: str) -> str:
    """The entry's path relative to the repository root, or an error if it escapes the root."""
    # Zips written on Windows may use backslashes as separators.
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise SeedCodeError(f"The seed code {source} has an entry outside the repository root: '{name}'.")
    # PurePosixPath drops '.' segments and duplicate slashes.
    return path.as_posix()
