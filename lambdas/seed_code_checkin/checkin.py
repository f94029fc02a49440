"""Seed-code check-in: the custom resource that gives a SageMaker project its two GitLab projects.

It runs behind the CDK ``custom_resources.Provider`` framework: returning
``{"PhysicalResourceId", "Data"}`` reports SUCCESS, raising reports FAILED with the exception's
message as the reason, so every failure raises with a message that says what to fix.

Before anything else
    The server URL and token secret must be those of one configured GitLab connection
    (``GITLAB_CONNECTIONS``, see ``gitlab_host.connections``); otherwise the request fails
    before the secret is read, naming the refused value.

Create
    For the model build and the model deploy repository: create the private GitLab project
    (or reuse the one already at that path), check that it sits at
    ``<GitLabRepositoryNamespace>/<name>`` (the path the CI roles' OIDC trust names), set its
    CI/CD variables, and push the whole seed repository in one commit on ``DefaultBranch``.
    Variables are set before the commit because the commit starts the repository's first
    pipeline, which needs them. The deploy project also lets Maintainers pass pipeline
    variables, which the GitLab trigger uses. Both seed zips are read before GitLab is touched,
    so a bad seed location fails without half-created projects.
    An existing project is never overwritten: if a file of the seed exists there with other
    content, Create fails naming the project and the files, before its variables or code are
    touched (choose other repository names, or move that project away). A project that holds
    the seed already, or part of it (a re-run after a failure), is completed: identical files
    are skipped, missing ones created, variables upserted.

Update
    Ensures both projects and re-applies the CI/CD variables and the pipeline-variable
    setting (a new token secret name takes effect too), but pushes seed code only into projects
    it had to create: existing repositories belong to the data scientists and their code is
    never overwritten (changed seed code or ``DefaultBranch`` are not pushed either).
    - Same server, group and repository names: the same projects; a project deleted in GitLab
      meanwhile is re-created and seeded, as there is no work in it to overwrite.
    - A changed ``GitLabServerUrl``, ``GitLabGroupId`` or repository name: the new projects are
      created and seeded as on Create, and the PhysicalResourceId changes with their paths, so
      CloudFormation then sends Delete for the old one (which keeps the old projects, see
      Delete). This is also what makes a rollback safe: the old projects still exist, so going
      back to them re-applies settings without pushing seed code over users' work.

Delete
    Always succeeds, and never deletes a GitLab project: the projects hold the data scientists'
    code and history, which must outlive the SageMaker project. With ``OnDelete: keep`` (the
    default) nothing happens in GitLab; with ``OnDelete: archive`` (the platform's
    ``gitlab.on_project_delete``) both projects are archived (read-only, kept). A deletion is
    never blocked by GitLab: a failed archive is reported in the response and the log (what was
    archived, what was not and why), and the stack deletion goes on.

The same function serves ``Custom::ProjectNames`` (see ``names``), which needs no GitLab.

The PhysicalResourceId is ``<server URL>|<build project path>|<deploy project path>``.
ResourceProperties carry no secret (see ``properties``) and are not logged here either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from gitlab_host import (
    CiVariable,
    GitLabConnection,
    GitLabHost,
    ProjectRef,
    RepositoryHost,
    connections_from_env,
    resolve_connection,
)

from .names import RESOURCE_TYPE as PROJECT_NAMES_RESOURCE_TYPE
from .names import handle_project_names
from .properties import CheckinProperties, SeedCodeLocation, parse_properties
from .seed import load_seed_from_s3

SERVICE = "seed-code-checkin"
logger = Logger(service=SERVICE)

HostFactory = Callable[[GitLabConnection], RepositoryHost]
SeedLoader = Callable[[SeedCodeLocation], Mapping[str, bytes]]


class SeedConflictError(Exception):
    """An existing GitLab project holds files that differ from the seed; nothing was overwritten."""


class NamespaceMismatchError(Exception):
    """The project is not where the CI roles' OIDC trust expects it."""


@dataclass(frozen=True)
class _Repository:
    label: str
    name: str
    seed_code: SeedCodeLocation
    variables: list[CiVariable]
    # The GitLab trigger starts this repository's pipeline with variables.
    takes_pipeline_variables: bool


def gitlab_host_for(connection: GitLabConnection) -> RepositoryHost:
    """The connection's GitLab server, with the token from the connection's secret."""
    return GitLabHost.from_connection(connection)


def handle_event(
    event: Mapping[str, Any],
    *,
    host_factory: HostFactory = gitlab_host_for,
    load_seed: SeedLoader = load_seed_from_s3,
    connections: Sequence[GitLabConnection] | None = None,
) -> dict[str, Any]:
    """Handle one Provider-framework ``onEvent`` request (Create, Update or Delete).

    ``connections`` are the allowed GitLab connections (default: ``GITLAB_CONNECTIONS``).
    """
    request_type = event.get("RequestType")
    logger.info(
        "Seed-code check-in request",
        extra={
            "request_type": request_type,
            "resource_type": event.get("ResourceType"),
            "physical_resource_id": event.get("PhysicalResourceId"),
        },
    )
    if event.get("ResourceType") == PROJECT_NAMES_RESOURCE_TYPE:
        return handle_project_names(event)
    if request_type == "Delete":
        return delete(event, host_factory=host_factory, connections=connections)
    try:
        if request_type not in ("Create", "Update"):
            raise ValueError(f"Unsupported RequestType {request_type!r}: expected Create, Update or Delete.")
        props = parse_properties(event.get("ResourceProperties"))
        connection = resolve_connection(
            connections_from_env() if connections is None else connections,
            server_url=props.gitlab_server_url,
            token_secret_arn=props.token_secret_arn,
        )
        host = host_factory(connection)
        if request_type == "Create":
            return create(props, host=host, load_seed=load_seed)
        return update(props, host=host, load_seed=load_seed)
    except Exception:
        logger.exception("Seed-code check-in %s failed", request_type)
        raise


def create(props: CheckinProperties, *, host: RepositoryHost, load_seed: SeedLoader) -> dict[str, Any]:
    """Create (or reuse) both projects, set their variables and push their seed code."""
    repositories = _repositories(props)
    seeds = {repository.label: load_seed(repository.seed_code) for repository in repositories}
    build, deploy = (
        _provision(props, repository, host=host, seed_files=lambda r: seeds[r.label], seed_existing=True)
        for repository in repositories
    )
    return _response(props, build, deploy)


def update(props: CheckinProperties, *, host: RepositoryHost, load_seed: SeedLoader) -> dict[str, Any]:
    """Ensure both projects and re-apply their settings; seed only projects that were missing."""
    build, deploy = (
        _provision(props, repository, host=host, seed_files=lambda r: load_seed(r.seed_code), seed_existing=False)
        for repository in _repositories(props)
    )
    return _response(props, build, deploy)


def delete(
    event: Mapping[str, Any],
    *,
    host_factory: HostFactory = gitlab_host_for,
    connections: Sequence[GitLabConnection] | None = None,
) -> dict[str, Any]:
    """Keep the GitLab projects, or archive them (``OnDelete: archive``); always succeed, saying which."""
    physical_id = str(event.get("PhysicalResourceId", ""))
    try:
        props = parse_properties(event.get("ResourceProperties"))
    except Exception:  # a resource whose Create failed on its properties must still delete cleanly
        props = None
    if props is None or props.on_delete == "keep":
        outcome = "kept the GitLab projects (they hold users' work); delete or archive them in GitLab when done"
        logger.info("Delete: %s", outcome, extra={"physical_resource_id": physical_id})
        return {"PhysicalResourceId": physical_id, "Data": {"DeleteOutcome": outcome}}
    outcome = _archive_projects(props, physical_id, host_factory=host_factory, connections=connections)
    logger.info("Delete: %s", outcome, extra={"physical_resource_id": physical_id})
    return {"PhysicalResourceId": physical_id, "Data": {"DeleteOutcome": outcome}}


def _archive_projects(
    props: CheckinProperties,
    physical_id: str,
    *,
    host_factory: HostFactory,
    connections: Sequence[GitLabConnection] | None,
) -> str:
    """Archive the two projects the resource names; a summary of what happened (never raises)."""
    paths = physical_id.split("|")[1:]
    if len(paths) != 2 or not all(paths):
        return f"kept the GitLab projects: the resource ID {physical_id!r} names no projects to archive"
    try:
        connection = resolve_connection(
            connections_from_env() if connections is None else connections,
            server_url=props.gitlab_server_url,
            token_secret_arn=props.token_secret_arn,
        )
        host = host_factory(connection)
    except Exception as error:  # never block a stack deletion on GitLab
        return f"kept the GitLab projects {', '.join(paths)}: could not reach GitLab to archive them ({error})"
    archived, failed = [], []
    for path in paths:
        try:
            host.archive_project(path)
            archived.append(path)
        except Exception as error:  # never block a stack deletion on GitLab
            failed.append(f"{path} ({error})")
    summary = f"archived {', '.join(archived)}" if archived else "archived nothing"
    return summary + (f"; kept, not archived: {'; '.join(failed)}" if failed else "")


def seed_commit_message(repository_label: str, project_label: str) -> str:
    """Title of the seed commit; the deploy repo's CI skips the push pipeline of this commit."""
    return f"Seed code of the {repository_label} repository for {project_label}"


def physical_resource_id(server_url: str, build_path: str, deploy_path: str) -> str:
    """The resource's identity: the server and both project paths."""
    return f"{server_url}|{build_path}|{deploy_path}"


def _repositories(props: CheckinProperties) -> tuple[_Repository, _Repository]:
    return (
        _Repository(
            label="model build",
            name=props.model_build_repo_name,
            seed_code=props.model_build_seed_code,
            variables=[variable.to_ci_variable() for variable in props.model_build_variables],
            takes_pipeline_variables=False,
        ),
        _Repository(
            label="model deploy",
            name=props.model_deploy_repo_name,
            seed_code=props.model_deploy_seed_code,
            variables=[variable.to_ci_variable() for variable in props.model_deploy_variables],
            takes_pipeline_variables=True,
        ),
    )


def _provision(
    props: CheckinProperties,
    repository: _Repository,
    *,
    host: RepositoryHost,
    seed_files: Callable[[_Repository], Mapping[str, bytes]],
    seed_existing: bool,
) -> ProjectRef:
    """Ensure the project and its settings; push the seed code if it is new or ``seed_existing``."""
    project_label = f"SageMaker project {props.sagemaker_project_name} ({props.sagemaker_project_id})"
    project = host.ensure_project(
        repository.name,
        namespace_id=props.group_id,
        description=f"{repository.label.capitalize()} repository of {project_label}",
    )
    _check_namespace(props, repository, project)
    if seed_existing and not project.created:
        _check_no_conflict(props, repository, project, host=host, files=seed_files(repository))
    host.set_variables(project.id, repository.variables)
    if repository.takes_pipeline_variables:
        host.allow_pipeline_variables(project.id)
    if project.created or seed_existing:
        commit = host.commit_files(
            project.id,
            branch=props.default_branch,
            files=seed_files(repository),
            message=seed_commit_message(repository.label, project_label),
        )
        logger.info(
            "Seeded %s repository",
            repository.label,
            extra={"project": project.path_with_namespace, "commit": commit},
        )
    return project


def _check_namespace(props: CheckinProperties, repository: _Repository, project: ProjectRef) -> None:
    """The CI roles trust ``<namespace>/<name>`` only: a project elsewhere could never assume them."""
    expected = f"{props.namespace}/{repository.name}"
    if project.path_with_namespace != expected:
        where = f"group {props.group_id}" if props.group_id is not None else "the token owner's namespace"
        raise NamespaceMismatchError(
            f"The {repository.label} project is at '{project.path_with_namespace}' in GitLab, but the project's CI "
            f"roles trust only '{expected}' (the connection's namespace '{props.namespace}'). Set the connection's "
            f"namespace to the full path of {where}, or its group_id to the group whose path is "
            f"'{props.namespace}', in the platform configuration. Nothing was written to the project."
        )


def _check_no_conflict(
    props: CheckinProperties,
    repository: _Repository,
    project: ProjectRef,
    *,
    host: RepositoryHost,
    files: Mapping[str, bytes],
) -> None:
    """Refuse to adopt an existing project whose files differ from the seed."""
    differing = host.differing_files(project.id, branch=props.default_branch, files=files)
    if differing:
        shown = ", ".join(differing[:5]) + (f" and {len(differing) - 5} more" if len(differing) > 5 else "")
        raise SeedConflictError(
            f"GitLab project '{project.path_with_namespace}' already exists and {len(differing)} file(s) on its "
            f"branch '{props.default_branch}' differ from the {repository.label} seed code ({shown}). The "
            "check-in never overwrites existing work: choose other repository names, or rename or move that "
            "project in GitLab. Its code and CI/CD variables were not changed."
        )


def _response(props: CheckinProperties, build: ProjectRef, deploy: ProjectRef) -> dict[str, Any]:
    return {
        "PhysicalResourceId": physical_resource_id(
            props.gitlab_server_url, build.path_with_namespace, deploy.path_with_namespace
        ),
        "Data": {
            "ModelBuildProjectId": str(build.id),
            "ModelBuildProjectUrl": build.web_url,
            "ModelBuildProjectPath": build.path_with_namespace,
            "ModelDeployProjectId": str(deploy.id),
            "ModelDeployProjectUrl": deploy.web_url,
            "ModelDeployProjectPath": deploy.path_with_namespace,
        },
    }
