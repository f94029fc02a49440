"""The host-agnostic contract between the Lambdas and the service that hosts the repositories.

The seed-code check-in and the GitLab trigger only talk to a ``RepositoryHost``. ``GitLabHost``
implements it against the GitLab REST API; an offline demo can implement it with local git
repositories. Every method must be safe to call again with the same arguments (CloudFormation
and EventBridge both retry), and every failure must raise ``RepositoryHostError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: A project's identifier on its host: GitLab's numeric ID (or its URL-encodable full path).
ProjectId = int | str


@dataclass(frozen=True)
class ProjectRef:
    """A project (repository) on the host.

    ``created`` is True only when ``ensure_project`` created it in that call, so callers can
    tell a brand-new empty project from one that already holds users' work.
    """

    id: ProjectId
    path_with_namespace: str
    web_url: str
    created: bool = False


@dataclass(frozen=True)
class PipelineRef:
    """A CI pipeline started on the host."""

    id: int | str
    web_url: str


@dataclass(frozen=True)
class CiVariable:
    """A project-level CI/CD variable (environment scope ``*``)."""

    key: str
    # Values can be credentials (the access-key fallback), so they never appear in a repr/log.
    value: str = field(repr=False)
    masked: bool = False
    protected: bool = False


class RepositoryHostError(Exception):
    """Any failure of a ``RepositoryHost`` operation.

    The message names the operation and the project or namespace, the HTTP status where there
    is one, and what to check; it never contains the access token.
    """

    def __init__(self, message: str, *, operation: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.status_code = status_code


@runtime_checkable
class RepositoryHost(Protocol):
    """The operations the Lambdas need from a repository host."""

    def ensure_project(self, name: str, *, namespace_id: int | None = None, description: str = "") -> ProjectRef:
        """Create the project ``name`` in ``namespace_id`` (None: the token owner's personal
        namespace), or return the existing one with that path (``created=False``)."""
        ...

    def get_project(self, project_id: ProjectId) -> ProjectRef:
        """Return the project with this ID."""
        ...

    def commit_files(
        self,
        project_id: ProjectId,
        *,
        branch: str,
        files: Mapping[str, bytes],
        message: str,
    ) -> str | None:
        """Write every file in one commit on ``branch`` (created if missing); files that are
        already identical are left out. Returns the commit ID, or None when nothing changed.
        Files absent from ``files`` are never deleted."""
        ...

    def differing_files(self, project_id: ProjectId, *, branch: str, files: Mapping[str, bytes]) -> list[str]:
        """Paths of ``files`` that exist on ``branch`` with other content (sorted); paths absent
        there, and a missing branch or empty repository, do not count."""
        ...

    def set_variables(self, project_id: ProjectId, variables: Sequence[CiVariable]) -> None:
        """Create or update each variable (by key); never duplicates one."""
        ...

    def allow_pipeline_variables(self, project_id: ProjectId) -> None:
        """Let the token owner (a Maintainer) pass variables to pipelines it starts."""
        ...

    def start_pipeline(self, project_id: ProjectId, *, ref: str, variables: Mapping[str, str]) -> PipelineRef:
        """Start the project's CI pipeline on ``ref`` with these pipeline variables."""
        ...

    def archive_project(self, project_id: ProjectId) -> None:
        """Archive the project (read-only, kept with its history); archiving an archived one is fine."""
        ...
