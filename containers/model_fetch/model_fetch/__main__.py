"""`python -m model_fetch`: put the approved model into a model directory, then exit (an init container).

Environment (every value from the stack's configuration, none from a request):

| variable | what |
|---|---|
| `MODEL_PACKAGE_GROUP` | serve the newest approved version of this model package group |
| `MODEL_PACKAGE_ARN` | optional: serve this version instead (it must be approved) |
| `MODEL_BUCKETS` | comma-separated buckets model data may come from |
| `MODEL_DIR` | where the serving container reads the model (`SM_MODEL_DIR`); its content is replaced |

Exit status 0 when the model is in place, 1 with the reason on stderr otherwise (the serving container,
which waits for this one to succeed, then does not start; the service's deployment circuit breaker
rolls back).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from model_fetch.download import COMPLETE_MARKER, fetch
from model_fetch.registry import ModelNotAvailable, describe, latest_approved


def install(sagemaker: Any, s3: Any, environ: Mapping[str, str], *, scratch: Path | None = None) -> dict[str, object]:
    """Resolve, download and unpack the configured model into `MODEL_DIR`; what was installed."""
    missing = [name for name in ("MODEL_PACKAGE_GROUP", "MODEL_BUCKETS", "MODEL_DIR") if not environ.get(name)]
    if missing:
        raise ModelNotAvailable(f"environment variable(s) {', '.join(missing)} not set")
    model_dir = Path(environ["MODEL_DIR"])
    pinned = environ.get("MODEL_PACKAGE_ARN", "")
    group = environ["MODEL_PACKAGE_GROUP"]
    version = describe(sagemaker, pinned) if pinned else latest_approved(sagemaker, group)
    if pinned and version.group != group:
        raise ModelNotAvailable(f"MODEL_PACKAGE_ARN {pinned} is a version of {version.group!r}, not of {group!r}")
    buckets = {name.strip() for name in environ["MODEL_BUCKETS"].split(",") if name.strip()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=scratch) as cache:
        unpacked = fetch(s3, version, Path(cache), allowed_buckets=buckets)
        (unpacked / COMPLETE_MARKER).unlink()
        # A volume that outlives the container (Docker Compose on Elastic Beanstalk) holds the previous
        # version: replace it whole, so no file of another version stays beside the new one.
        model_dir.mkdir(parents=True, exist_ok=True)
        for entry in model_dir.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        shutil.copytree(unpacked, model_dir, dirs_exist_ok=True)
    for path in [model_dir, *model_dir.rglob("*")]:
        # The serving container runs as an unprivileged user: everything readable, nothing writable.
        path.chmod(0o755 if path.is_dir() else 0o644)
    return {
        "model_package_arn": version.arn,
        "version": version.version,
        "model_data_url": version.model_data_url,
        "model_dir": str(model_dir),
        "files": sorted(p.name for p in model_dir.iterdir()),
        "seconds": round(time.perf_counter() - started, 3),
    }


def main() -> int:
    """Entry point of the init container."""
    try:
        installed = install(boto3.client("sagemaker"), boto3.client("s3"), os.environ)
    except (ModelNotAvailable, ClientError, BotoCoreError) as error:
        print(f"model_fetch: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"model_fetch": "installed", **installed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
