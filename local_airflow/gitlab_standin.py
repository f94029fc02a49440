"""A local stand-in for the one GitLab API call the MLOps pipeline makes: download a job's artifacts.

`GET /api/v4/projects/:id/jobs/:job_id/artifacts` with a `JOB-TOKEN` header, as python-gitlab sends
it with `job_token=`. The artifacts of a job are registered as a zip; only the registered job token
is accepted (403 otherwise, as GitLab answers a project missing from the job token allowlist).
"""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from pathlib import Path
from typing import Any

from local_airflow.http_standin import JsonStandIn


class GitLabArtifactsStandIn(JsonStandIn):
    """Serves registered job artifacts to the holder of `job_token`."""

    def __init__(self) -> None:
        super().__init__()
        self.job_token = secrets.token_hex(16)
        self._artifacts: dict[tuple[str, str], bytes] = {}
        self.downloads: list[tuple[str, str]] = []

    def add_job_artifacts(self, project_id: str, job_id: str, root: Path, paths: list[str]) -> None:
        """Register a job's artifacts: the files `paths` (relative to `root`) zipped as GitLab does."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in paths:
                archive.write(root / path, arcname=path)
        self._artifacts[(project_id, job_id)] = buffer.getvalue()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        match = re.fullmatch(r"/api/v4/projects/(?P<project>[^/]+)/jobs/(?P<job>\d+)/artifacts", path.split("?")[0])
        if method != "GET" or not match:
            return 404, {}, {"message": "404 Not Found"}
        token = {key.lower(): value for key, value in headers.items()}.get("job-token")
        if token != self.job_token:
            return 403, {}, {"message": "403 Forbidden - this project is not in the job token allowlist"}
        artifacts = self._artifacts.get((match["project"], match["job"]))
        if artifacts is None:
            return 404, {}, {"message": "404 Job Not Found"}
        self.downloads.append((match["project"], match["job"]))
        return 200, {"Content-Type": "application/zip"}, artifacts
