"""``RepositoryHost`` implemented with python-gitlab against the GitLab REST API (v4).

Every request has a timeout and retries transient failures (HTTP 5xx/52x, connection errors,
timeouts, 429 honouring ``Retry-After``) at most ``max_retries`` times, so a hung or failing
GitLab turns into a ``RepositoryHostError`` well within a Lambda's time limit. A ``Retry-After``
longer than the time the invocation has left is not slept through: the call fails at once, so
the event is retried later instead of the Lambda timing out asleep. Every request verifies the
server's certificate with the connection's CA bundle when one is configured. Errors are
translated into messages that say which operation on which project failed and what to check.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import gitlab
import requests
from gitlab.exceptions import GitlabCreateError, GitlabError, GitlabGetError

from .base import CiVariable, PipelineRef, ProjectId, ProjectRef, RepositoryHostError
from .connections import GitLabConnection
from .credentials import load_token

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_RETRIES = 3
# Least role allowed to pass pipeline variables: the token owner is at least Maintainer of the
# projects it created, and Developers cannot override deployment inputs.
PIPELINE_VARIABLES_ROLE = "maintainer"

_PAGE_SIZE = 100
_MAX_SERVER_MESSAGE = 300
# Known GitLab 400 messages and what the operator should do about them.
_BAD_REQUEST_HINTS = {
    "Insufficient permissions to set pipeline variables": (
        "Set the project's 'Minimum role to use pipeline variables' (Settings > CI/CD > "
        f"Variables, API ci_pipeline_variables_minimum_override_role) to {PIPELINE_VARIABLES_ROLE}; "
        "the seed-code check-in does this for the deploy project it creates."
    ),
    "Reference not found": "Check that the branch exists in the project.",
    "No stages / jobs for this pipeline": (
        "The project's .gitlab-ci.yml has no job whose rules match a pipeline started through the API."
    ),
    "has already been taken": "Another project or variable already uses this name.",
}


class _RetryAfterTooLong(Exception):
    """GitLab asked to wait longer (429 ``Retry-After``) than the invocation has left."""

    def __init__(self, wait_s: float, left_s: float) -> None:
        super().__init__(f"Retry-After {wait_s:g} s, {left_s:.0f} s left")
        self.wait_s = wait_s
        self.left_s = left_s


def _rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds GitLab asks a 429 to wait (``Retry-After`` or ``RateLimit-Reset``), as python-gitlab reads them."""
    if response.status_code != 429:
        return None
    try:
        if "Retry-After" in response.headers:
            return float(response.headers["Retry-After"])
        if "RateLimit-Reset" in response.headers:
            return max(0.0, float(response.headers["RateLimit-Reset"]) - time.time())
    except ValueError:
        return None
    return None


def _session_within(time_left_s: Callable[[], float] | None) -> requests.Session:
    """A session that refuses, before python-gitlab sleeps, a 429 wait longer than the time left."""
    session = requests.Session()
    if time_left_s is not None:

        def check_wait(response: requests.Response, *_: Any, **__: Any) -> None:
            wait = _rate_limit_wait(response)
            if wait is not None and wait >= (left := time_left_s()):
                raise _RetryAfterTooLong(wait, left)

        session.hooks["response"].append(check_wait)
    return session


class _BoundedRetryGitlab(gitlab.Gitlab):
    """python-gitlab client whose every request retries at most ``max_retries`` times.

    python-gitlab only takes ``max_retries`` per request (default 10, with exponential
    back-off); bounding it here covers every call, pagination included.
    """

    def __init__(self, *args: Any, max_retries: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_retries = max_retries

    def http_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("max_retries", self._max_retries)
        return super().http_request(*args, **kwargs)


class GitLabHost:
    """A GitLab server (gitlab.com or self-managed) reached with one access token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        token_source: str = "the configured GitLab token",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        ssl_verify: str | bool = True,
        time_left_s: Callable[[], float] | None = None,
    ) -> None:
        """Create a client for ``url`` (``https://gitlab.example.com``).

        ``token_source`` says where the token came from (e.g. "Secrets Manager secret 'x'") so
        that authentication errors point at what to fix without showing the token.
        ``ssl_verify`` is the path of a CA bundle (PEM) or True for the public CAs.
        ``time_left_s`` returns the seconds the caller may still spend (e.g. the Lambda's
        remaining time less a margin); a rate-limit wait longer than that fails at once.
        """
        self.url = url.rstrip("/")
        self._token_source = token_source
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._gl = _BoundedRetryGitlab(
            self.url,
            private_token=token,
            timeout=timeout_s,
            retry_transient_errors=True,
            max_retries=max_retries,
            ssl_verify=ssl_verify,
            session=_session_within(time_left_s),
        )

    @classmethod
    def from_connection(
        cls, connection: GitLabConnection, *, secrets_client: Any | None = None, **kwargs: Any
    ) -> GitLabHost:
        """A client of the connection's server (with its CA bundle) whose token is read from the
        connection's secret (see ``load_token``); ``kwargs`` go to the constructor.

        ``connection`` must come from ``connections.resolve_connection``: that is what binds the
        secret to its server."""
        token = load_token(connection.token_secret_arn, client=secrets_client)
        return cls(
            connection.server_url,
            token,
            token_source=f"Secrets Manager secret '{connection.token_secret_arn}'",
            ssl_verify=connection.ssl_verify,
            **kwargs,
        )

    def ensure_project(self, name: str, *, namespace_id: int | None = None, description: str = "") -> ProjectRef:
        """Create the private project ``name`` (path = name) in ``namespace_id`` (None: the
        token owner's personal namespace), or reuse the project already at that path.

        GitLab answers "has already been taken" (HTTP 400, 409 on some versions) when the path
        exists; the project is then looked up by its full path, so re-running is safe.
        """
        scope = _namespace_scope(namespace_id)
        payload: dict[str, Any] = {"name": name, "path": name, "visibility": "private"}
        if description:
            payload["description"] = description
        if namespace_id is not None:
            payload["namespace_id"] = namespace_id
        with self._call(f"create project '{name}'", scope=scope):
            try:
                project = self._gl.projects.create(payload)
            except GitlabCreateError as exc:
                if not _already_taken(exc):
                    raise
                project = None
        if project is not None:
            logger.info("Created GitLab project %s", project.path_with_namespace)
            return _project_ref(project, created=True)

        with self._call(f"look up the existing project '{name}'", scope=scope):
            if namespace_id is None:
                namespace_path = cast(dict[str, Any], self._gl.http_get("/user"))["username"]
            else:
                namespace_path = self._gl.namespaces.get(namespace_id).full_path
            project = self._gl.projects.get(f"{namespace_path}/{name}")
        logger.info("Reusing existing GitLab project %s", project.path_with_namespace)
        return _project_ref(project, created=False)

    def get_project(self, project_id: ProjectId) -> ProjectRef:
        """Return the project with this ID (or URL-encodable full path)."""
        with self._call("read project", scope=f"project {project_id}"):
            return _project_ref(self._gl.projects.get(project_id), created=False)

    def archive_project(self, project_id: ProjectId) -> None:
        """Archive the project (GitLab: Owner, or Maintainer where the instance allows it)."""
        with self._call("archive project", scope=f"project {project_id}"):
            self._gl.projects.get(project_id, lazy=True).archive()

    def commit_files(
        self,
        project_id: ProjectId,
        *,
        branch: str,
        files: Mapping[str, bytes],
        message: str,
    ) -> str | None:
        """Write ``files`` in one commit on ``branch``; see ``RepositoryHost.commit_files``.

        The branch's tree is listed once: a file is a ``create`` action when its path is new,
        an ``update`` when its content differs (compared by git blob SHA-1, no download), and
        left out when identical. UTF-8 files are sent as text, anything else base64-encoded.
        A branch missing from a non-empty repository starts from the default branch.
        """
        scope = f"project {project_id}"
        with self._call(f"list the files on branch '{branch}'", scope=scope):
            project = self._gl.projects.get(project_id)
            existing, start_branch = self._existing_blobs(project, branch)
        actions = [
            action
            for path, content in sorted(files.items())
            if (action := _commit_action(path, content, existing.get(path))) is not None
        ]
        if not actions:
            logger.info("Project %s branch %s already holds these %d files", project_id, branch, len(files))
            return None
        payload: dict[str, Any] = {"branch": branch, "commit_message": message, "actions": actions}
        if start_branch is not None:
            payload["start_branch"] = start_branch
        with self._call(f"commit {len(actions)} files to branch '{branch}'", scope=scope):
            commit = project.commits.create(payload)
        logger.info("Committed %d files to %s@%s: %s", len(actions), project_id, branch, commit.id)
        return str(commit.id)

    def differing_files(self, project_id: ProjectId, *, branch: str, files: Mapping[str, bytes]) -> list[str]:
        """Paths of ``files`` on ``branch`` whose content differs (compared by git blob SHA-1,
        the whole tree listed page by page, nothing downloaded)."""
        with self._call(f"list the files on branch '{branch}'", scope=f"project {project_id}"):
            project = self._gl.projects.get(project_id)
            existing, start_branch = self._existing_blobs(project, branch)
        if start_branch is not None:  # the branch does not exist yet: nothing on it to overwrite
            return []
        return sorted(
            path for path, content in files.items() if path in existing and existing[path] != git_blob_sha(content)
        )

    def set_variables(self, project_id: ProjectId, variables: Sequence[CiVariable]) -> None:
        """Create missing variables and update those whose value or flags differ (environment
        scope ``*``); identical ones are left alone."""
        scope = f"project {project_id}"
        project = self._gl.projects.get(project_id, lazy=True)
        with self._call("list CI/CD variables", scope=scope):
            current = {
                variable.key: variable
                for variable in project.variables.list(get_all=True, per_page=_PAGE_SIZE)
                if variable.attributes.get("environment_scope", "*") == "*"
            }
        for variable in variables:
            data = {"value": variable.value, "masked": variable.masked, "protected": variable.protected}
            existing = current.get(variable.key)
            if existing is None:
                with self._call(f"create CI/CD variable '{variable.key}'", scope=scope):
                    project.variables.create({"key": variable.key, **data})
            elif any(existing.attributes.get(name) != value for name, value in data.items()):
                with self._call(f"update CI/CD variable '{variable.key}'", scope=scope):
                    project.variables.update(variable.key, data)
        logger.info("CI/CD variables of project %s: %s", project_id, ", ".join(v.key for v in variables))

    def allow_pipeline_variables(self, project_id: ProjectId) -> None:
        """Let Maintainers pass pipeline variables: GitLab.com creates new projects with
        "no one allowed", which would make every ``start_pipeline`` with variables fail."""
        with self._call("allow pipeline variables", scope=f"project {project_id}"):
            self._gl.projects.update(
                project_id,
                {
                    "restrict_user_defined_variables": True,
                    "ci_pipeline_variables_minimum_override_role": PIPELINE_VARIABLES_ROLE,
                },
            )

    def start_pipeline(self, project_id: ProjectId, *, ref: str, variables: Mapping[str, str]) -> PipelineRef:
        """Start the project's pipeline on ``ref`` with ``variables`` as pipeline variables."""
        project = self._gl.projects.get(project_id, lazy=True)
        payload = {
            "ref": ref,
            "variables": [{"key": key, "value": value, "variable_type": "env_var"} for key, value in variables.items()],
        }
        with self._call(f"start a pipeline on '{ref}'", scope=f"project {project_id}"):
            pipeline = project.pipelines.create(payload)
        logger.info("Started pipeline %s of project %s on %s", pipeline.id, project_id, ref)
        return PipelineRef(id=pipeline.id, web_url=pipeline.web_url)

    def _existing_blobs(self, project: Any, branch: str) -> tuple[dict[str, str], str | None]:
        """Return {path: blob SHA} of ``branch`` and the branch to start from if it is missing."""
        if project.attributes.get("empty_repo"):
            return {}, None
        start_branch = None
        try:
            tree = project.repository_tree(ref=branch, recursive=True, get_all=True, per_page=_PAGE_SIZE)
        except GitlabGetError as exc:
            if exc.response_code != 404:
                raise
            start_branch = project.attributes.get("default_branch")
            if not start_branch:
                return {}, None
            tree = project.repository_tree(ref=start_branch, recursive=True, get_all=True, per_page=_PAGE_SIZE)
        return {entry["path"]: entry["id"] for entry in tree if entry["type"] == "blob"}, start_branch

    @contextmanager
    def _call(self, operation: str, *, scope: str) -> Iterator[None]:
        """Translate python-gitlab and network failures of ``operation`` on ``scope``."""
        try:
            yield
        except GitlabError as exc:
            raise self._http_error(operation, scope, exc) from exc
        except _RetryAfterTooLong as exc:
            raise RepositoryHostError(
                f"GitLab: could not {operation} in {scope}: HTTP 429, GitLab asked to retry after "
                f"{exc.wait_s:g} s, longer than the {exc.left_s:.0f} s this invocation has left; "
                "failing now so that the request is retried later.",
                operation=operation,
                status_code=429,
            ) from exc
        except requests.Timeout as exc:
            raise RepositoryHostError(
                f"GitLab: could not {operation} in {scope}: no answer from {self.url} within "
                f"{self._timeout_s:g} s (after up to {self._max_retries} retries). Check that the "
                "server URL is right and reachable from the Lambda (for a self-managed GitLab in "
                "a VPC: the Lambda's subnets, security groups and routes).",
                operation=operation,
            ) from exc
        except requests.RequestException as exc:
            raise RepositoryHostError(
                f"GitLab: could not {operation} in {scope}: cannot connect to {self.url} "
                f"({type(exc).__name__}, after up to {self._max_retries} retries). Check the server "
                "URL, DNS and TLS, and the network path from the Lambda.",
                operation=operation,
            ) from exc

    def _http_error(self, operation: str, scope: str, exc: GitlabError) -> RepositoryHostError:
        status = exc.response_code
        server_message = str(exc.error_message)[:_MAX_SERVER_MESSAGE]
        prefix = f"GitLab: could not {operation} in {scope}"
        if status == 401:
            hint = (
                f"The token from {self._token_source} is invalid, expired or revoked: create an "
                "access token with the 'api' scope and store it there."
            )
        elif status == 403:
            role = (
                "may create projects there (personal project limit)"
                if scope == _namespace_scope(None)
                else f"has the Maintainer (or Owner) role in {scope}"
            )
            hint = f"Check that the token from {self._token_source} has the 'api' scope and that its user {role}."
        elif status == 404:
            hint = (
                f"Check that {scope} exists and that the token's user is a member of it (GitLab "
                "answers 404 for what the token cannot see)."
            )
        elif status == 409:
            hint = f"Something else changed {scope} at the same time; retry."
        elif status == 429:
            hint = f"GitLab rate-limited the token (after {self._max_retries} retries); retry later."
        elif status is not None and status >= 500:
            hint = f"GitLab server error (after {self._max_retries} retries): check the status of {self.url} and retry."
        elif status == 400:
            hint = next(
                (text for marker, text in _BAD_REQUEST_HINTS.items() if marker in server_message),
                "GitLab rejected the request; see its message.",
            )
        elif status is None:
            hint = f"Unexpected response from {self.url}: check that the server URL points at GitLab."
        else:
            hint = "See GitLab's message."
        status_text = f"HTTP {status}" if status is not None else "no HTTP status"
        return RepositoryHostError(
            f"{prefix}: {status_text} ({server_message}). {hint}", operation=operation, status_code=status
        )


def _namespace_scope(namespace_id: int | None) -> str:
    return "the token owner's personal namespace" if namespace_id is None else f"group {namespace_id}"


def _already_taken(exc: GitlabError) -> bool:
    return exc.response_code in (400, 409) and "has already been taken" in str(exc.error_message)


def _project_ref(project: Any, *, created: bool) -> ProjectRef:
    return ProjectRef(
        id=project.id,
        path_with_namespace=project.path_with_namespace,
        web_url=project.web_url,
        created=created,
    )


def git_blob_sha(content: bytes) -> str:
    """The git object ID (SHA-1) of a blob with ``content``, as GitLab's tree API reports it."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def _commit_action(path: str, content: bytes, existing_sha: str | None) -> dict[str, str] | None:
    if existing_sha == git_blob_sha(content):
        return None
    text, encoding = _encode_content(content)
    return {
        "action": "create" if existing_sha is None else "update",
        "file_path": path,
        "content": text,
        "encoding": encoding,
    }


def _encode_content(content: bytes) -> tuple[str, str]:
    """UTF-8 text as is; anything else (images, archives, other encodings) base64-encoded."""
    # A NUL byte is valid UTF-8, but git and GitLab treat such files as binary.
    if b"\0" not in content:
        try:
            return content.decode("utf-8"), "text"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(content).decode("ascii"), "base64"
