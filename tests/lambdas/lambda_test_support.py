"""Helpers shared by the GitLab Lambda tests (imported by name: this directory has no package)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import responses
from responses import matchers

GITLAB_URL = "https://gitlab.example.com"
API = f"{GITLAB_URL}/api/v4"
TOKEN = "glpat-S3cr3tT0ken-NeverLogMe"
SECRET_NAME = "sagemaker/gitlab-token"
REGION = "us-east-1"


class GitLabApi:
    """Registers GitLab REST API responses that require the token header."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock

    def add(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        status: int = 200,
        body: Any = None,
        query: dict[str, str] | None = None,
        raises: Exception | None = None,
    ) -> responses.BaseResponse:
        """Expect ``method`` on ``/api/v4<path>`` with JSON ``body`` (if given) and answer."""
        match = [matchers.header_matcher({"PRIVATE-TOKEN": TOKEN})]
        if body is not None:
            match.append(matchers.json_params_matcher(body))
        if query is not None:
            match.append(matchers.query_param_matcher(query))
        if raises is not None:
            return self.mock.add(method, f"{API}{path}", body=raises, match=match)
        return self.mock.add(method, f"{API}{path}", json=json, status=status, match=match)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request made, in order."""
        return [(call.request.method, call.request.path_url.split("?")[0]) for call in self.mock.calls]


def project_json(
    project_id: int,
    path_with_namespace: str,
    *,
    empty_repo: bool = False,
    default_branch: str | None = "main",
) -> dict[str, Any]:
    """A project as GitLab's API returns it (the fields the client reads)."""
    return {
        "id": project_id,
        "name": path_with_namespace.rsplit("/", 1)[-1],
        "path": path_with_namespace.rsplit("/", 1)[-1],
        "path_with_namespace": path_with_namespace,
        "web_url": f"{GITLAB_URL}/{path_with_namespace}",
        "empty_repo": empty_repo,
        "default_branch": None if empty_repo else default_branch,
    }


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip holding ``files``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' ``inject_lambda_context`` reads."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_time_in_millis: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        """What Lambda reports; tests set `remaining_time_in_millis`."""
        return self.remaining_time_in_millis


def connections_json(secret_arn: str, *, url: str = GITLAB_URL, name: str = "team", ca_bundle: str = "") -> str:
    """A ``GITLAB_CONNECTIONS`` value allowing one connection."""
    return json.dumps([{"name": name, "server_url": url, "token_secret_arn": secret_arn, "ca_bundle": ca_bundle}])
