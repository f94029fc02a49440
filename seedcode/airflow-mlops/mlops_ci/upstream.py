"""Fetch the model repository's `package` artifact, with this job's CI_JOB_TOKEN (no stored token).

GitLab allows it when the MLOps project is on the model project's job token allowlist. The archive
is unpacked with the safe-extraction rules of the standard library (`filter="data"`): no absolute
paths, no `..`, no links out of the target.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gitlab

from mlops_ci.settings import CiError, Settings, require

ARCHIVE = "build/model-source.tar.gz"
MANIFEST = "build/manifest.json"
MAX_ARTIFACT_BYTES = 200 * 1024 * 1024


def fetch(settings: Settings, environ: Mapping[str, str], *, output: Path, client: Any | None = None) -> dict[str, Any]:
    """Download and unpack the upstream package into `output`; return its manifest."""
    upstream_model = require(environ, "UPSTREAM_MODEL_NAME")
    if upstream_model != settings.model:
        raise CiError(
            f"this MLOps pipeline builds model {settings.model!r}, the upstream pipeline sent {upstream_model!r}"
        )
    project_id = require(environ, "UPSTREAM_PROJECT_ID", pattern=r"\d+")
    job_id = require(environ, "UPSTREAM_JOB_ID", pattern=r"\d+")
    gl = client or gitlab.Gitlab(
        require(environ, "CI_SERVER_URL"),
        job_token=require(environ, "CI_JOB_TOKEN"),
        timeout=60,
        retry_transient_errors=True,
    )
    try:
        data = gl.projects.get(project_id, lazy=True).jobs.get(job_id, lazy=True).artifacts()
    except gitlab.exceptions.GitlabError as error:
        hint = (
            " (is this project on the model project's job token allowlist?)"
            if error.response_code in (401, 403, 404)
            else ""
        )
        raise CiError(
            f"cannot download the artifacts of job {job_id} of project {project_id}: HTTP {error.response_code}{hint}"
        ) from None
    if len(data) > MAX_ARTIFACT_BYTES:
        raise CiError(f"the upstream artifacts are {len(data)} bytes, more than {MAX_ARTIFACT_BYTES}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as artifacts:
            archive = artifacts.read(ARCHIVE)
            manifest: dict[str, Any] = json.loads(artifacts.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError) as error:
        raise CiError(f"the upstream artifacts hold no {ARCHIVE} and {MANIFEST}: {error}") from None
    output.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(output, filter="data")
    except (tarfile.FilterError, tarfile.ReadError) as error:
        raise CiError(f"the upstream {ARCHIVE} cannot be unpacked safely: {error}") from None
    (output.parent / "build").mkdir(parents=True, exist_ok=True)
    (output.parent / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
