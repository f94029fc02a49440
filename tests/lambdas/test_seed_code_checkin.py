"""The seed-code check-in custom resource: Create, Update, Delete and the failure path."""

from __future__ import annotations

import json
import traceback
from typing import Any

import boto3
import pytest
import requests
import responses
from lambda_test_support import (
    GITLAB_URL,
    REGION,
    TOKEN,
    FakeLambdaContext,
    GitLabApi,
    connections_json,
    make_zip,
    project_json,
)
from responses import matchers

from gitlab_host import ConnectionNotAllowedError, RepositoryHostError
from gitlab_host.gitlab_client import git_blob_sha
from seed_code_checkin.checkin import NamespaceMismatchError, SeedConflictError, handle_event
from seed_code_checkin.handler import on_event
from seed_code_checkin.properties import InvalidPropertiesError, parse_properties
from seed_code_checkin.seed import SeedCodeError

BUILD_FILES = {".gitlab-ci.yml": b"stages: [training]\n", "pipelines/pipeline.py": b"print('build')\n"}
DEPLOY_FILES = {".gitlab-ci.yml": b"stages: [build, deploy]\n", "build.py": b"print('deploy')\n"}
BUILD_NAME, DEPLOY_NAME = "proj-p-123-build", "proj-p-123-deploy"
BUILD_PATH, DEPLOY_PATH = f"team/{BUILD_NAME}", f"team/{DEPLOY_NAME}"
PHYSICAL_ID = f"{GITLAB_URL}|{BUILD_PATH}|{DEPLOY_PATH}"
LABEL = "SageMaker project proj (p-123)"
# A value that must never be logged (the variables carry role ARNs; this stands for any value).
DEPLOY_ROLE_CHAIN = "arn:aws:iam::123456789012:role/pipeline,arn:aws:iam::333333333333:role/target-7f3a9"
PLACEHOLDER_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gitlab-token-AbCdEf"


def _properties(**overrides: Any) -> dict[str, Any]:
    properties = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "GitLabServerUrl": GITLAB_URL,
        "GitLabTokenSecretArn": PLACEHOLDER_SECRET_ARN,
        "GitLabRepositoryNamespace": "team",
        "GitLabGroupId": "42",
        "ModelBuildRepoName": BUILD_NAME,
        "ModelDeployRepoName": DEPLOY_NAME,
        "DefaultBranch": "main",
        "SageMakerProjectName": "proj",
        "SageMakerProjectId": "p-123",
        "ModelBuildSeedCode": {"Bucket": "assets", "Key": "build.zip"},
        "ModelDeploySeedCode": {"Bucket": "assets", "Key": "deploy.zip"},
        "ModelBuildVariables": [
            {"Key": "SAGEMAKER_PROJECT_NAME", "Value": "proj", "Masked": "false", "Protected": "false"},
            {
                "Key": "AWS_ROLE_ARN",
                "Value": "arn:aws:iam::123456789012:role/ci",
                "Masked": "false",
                "Protected": "true",
            },
        ],
        "ModelDeployVariables": [
            {"Key": "SAGEMAKER_PROJECT_NAME", "Value": "proj", "Masked": "false", "Protected": "false"},
            {"Key": "DEPLOY_ROLE_ARN_STAGING", "Value": DEPLOY_ROLE_CHAIN, "Masked": "false", "Protected": "true"},
        ],
    }
    properties.update(overrides)
    return properties


def _event(request_type: str, properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r-1",
        "LogicalResourceId": "SeedCodeCheckin",
        "ResourceType": "Custom::GitLabSeedCode",
        "ResourceProperties": properties if properties is not None else _properties(),
        **extra,
    }


@pytest.fixture
def seeded_aws(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The token secret, the configured connection to it, and both seed zips; returns the secret's ARN."""
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name="gitlab-token", SecretString=TOKEN)[
        "ARN"
    ]
    monkeypatch.setenv("GITLAB_CONNECTIONS", connections_json(arn))
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="assets")
    s3.put_object(Bucket="assets", Key="build.zip", Body=make_zip(BUILD_FILES))
    s3.put_object(Bucket="assets", Key="deploy.zip", Body=make_zip(DEPLOY_FILES))
    return arn


def _variable_bodies(properties: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {"key": v["Key"], "value": v["Value"], "masked": v["Masked"] == "true", "protected": v["Protected"] == "true"}
        for v in properties
    ]


def _expect_new_project(
    api: GitLabApi,
    *,
    project_id: int,
    name: str,
    label: str,
    variables: list[dict[str, str]],
    files: dict[str, bytes],
    pipeline_variables: bool,
) -> None:
    """The calls that create, configure and seed one project, in order."""
    api.add(
        "POST",
        "/projects",
        status=201,
        body={
            "name": name,
            "path": name,
            "visibility": "private",
            "namespace_id": 42,
            "description": f"{label.capitalize()} repository of {LABEL}",
        },
        json=project_json(project_id, f"team/{name}", empty_repo=True),
    )
    _expect_variables_created(api, project_id=project_id, variables=variables)
    if pipeline_variables:
        _expect_pipeline_variables_allowed(api, project_id=project_id)
    api.add("GET", f"/projects/{project_id}", json=project_json(project_id, f"team/{name}", empty_repo=True))
    api.add(
        "POST",
        f"/projects/{project_id}/repository/commits",
        status=201,
        body={
            "branch": "main",
            "commit_message": f"Seed code of the {label} repository for {LABEL}",
            "actions": [
                {"action": "create", "file_path": path, "content": content.decode(), "encoding": "text"}
                for path, content in sorted(files.items())
            ],
        },
        json={"id": f"sha-{project_id}"},
    )


def _expect_variables_created(api: GitLabApi, *, project_id: int, variables: list[dict[str, str]]) -> None:
    api.add("GET", f"/projects/{project_id}/variables", json=[])
    for body in _variable_bodies(variables):
        api.add("POST", f"/projects/{project_id}/variables", status=201, body=body, json={"key": body["key"]})


def _expect_pipeline_variables_allowed(api: GitLabApi, *, project_id: int) -> None:
    api.add(
        "PUT",
        f"/projects/{project_id}",
        body={"restrict_user_defined_variables": True, "ci_pipeline_variables_minimum_override_role": "maintainer"},
        json=project_json(project_id, "team/x"),
    )


def _expect_existing_project(api: GitLabApi, *, project_id: int, name: str) -> None:
    api.add("POST", "/projects", status=400, json={"message": {"path": ["has already been taken"]}})
    api.add("GET", "/namespaces/42", json={"id": 42, "full_path": "team"})
    api.add("GET", f"/projects/team%2F{name}", json=project_json(project_id, f"team/{name}"))


def _existing_variables(api: GitLabApi, *, project_id: int, variables: list[dict[str, str]]) -> None:
    api.add(
        "GET",
        f"/projects/{project_id}/variables",
        json=[{**body, "environment_scope": "*"} for body in _variable_bodies(variables)],
    )


EXPECTED_DATA = {
    "ModelBuildProjectId": "7",
    "ModelBuildProjectUrl": f"{GITLAB_URL}/{BUILD_PATH}",
    "ModelBuildProjectPath": BUILD_PATH,
    "ModelDeployProjectId": "8",
    "ModelDeployProjectUrl": f"{GITLAB_URL}/{DEPLOY_PATH}",
    "ModelDeployProjectPath": DEPLOY_PATH,
}


# --- Create -----------------------------------------------------------------------------------


def test_create_makes_both_projects_sets_variables_then_pushes_each_seed_in_one_commit(
    seeded_aws: str, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext
) -> None:
    props = _properties(GitLabTokenSecretArn=seeded_aws)
    _expect_new_project(
        gitlab_api,
        project_id=7,
        name=BUILD_NAME,
        label="model build",
        variables=props["ModelBuildVariables"],
        files=BUILD_FILES,
        pipeline_variables=False,
    )
    _expect_new_project(
        gitlab_api,
        project_id=8,
        name=DEPLOY_NAME,
        label="model deploy",
        variables=props["ModelDeployVariables"],
        files=DEPLOY_FILES,
        pipeline_variables=True,
    )

    result = on_event(_event("Create", props), lambda_context)

    assert result == {"PhysicalResourceId": PHYSICAL_ID, "Data": EXPECTED_DATA}
    # Variables exist before the seed commit starts the first pipeline; one commit per project.
    writes = [call for call in gitlab_api.calls if call[0] != "GET"]
    assert writes == [
        ("POST", "/api/v4/projects"),
        ("POST", "/api/v4/projects/7/variables"),
        ("POST", "/api/v4/projects/7/variables"),
        ("POST", "/api/v4/projects/7/repository/commits"),
        ("POST", "/api/v4/projects"),
        ("POST", "/api/v4/projects/8/variables"),
        ("POST", "/api/v4/projects/8/variables"),
        ("PUT", "/api/v4/projects/8"),
        ("POST", "/api/v4/projects/8/repository/commits"),
    ]


def test_create_again_on_existing_projects_duplicates_nothing(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    props = _properties(GitLabTokenSecretArn=seeded_aws)
    for project_id, name, variables, files in (
        (7, BUILD_NAME, props["ModelBuildVariables"], BUILD_FILES),
        (8, DEPLOY_NAME, props["ModelDeployVariables"], DEPLOY_FILES),
    ):
        _expect_existing_project(gitlab_api, project_id=project_id, name=name)
        _existing_variables(gitlab_api, project_id=project_id, variables=variables)
        if project_id == 8:
            _expect_pipeline_variables_allowed(gitlab_api, project_id=8)
        gitlab_api.add("GET", f"/projects/{project_id}", json=project_json(project_id, f"team/{name}"))
        gitlab_api.add(
            "GET",
            f"/projects/{project_id}/repository/tree",
            json=[{"id": git_blob_sha(content), "path": path, "type": "blob"} for path, content in files.items()],
        )

    result = handle_event(_event("Create", props))

    assert result == {"PhysicalResourceId": PHYSICAL_ID, "Data": EXPECTED_DATA}
    assert [call for call in gitlab_api.calls if call[0] != "GET"] == [
        ("POST", "/api/v4/projects"),  # answered "has already been taken"
        ("POST", "/api/v4/projects"),
        ("PUT", "/api/v4/projects/8"),
    ]


def test_create_reads_both_seeds_before_touching_gitlab(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    props = _properties(GitLabTokenSecretArn=seeded_aws, ModelDeploySeedCode={"Bucket": "assets", "Key": "missing.zip"})

    with pytest.raises(SeedCodeError, match=r"s3://assets/missing.zip \(NoSuchKey\)"):
        handle_event(_event("Create", props))

    assert gitlab_api.calls == []


@pytest.mark.parametrize(
    ("status", "raises", "expected"),
    [
        (401, None, ["HTTP 401", "Secrets Manager secret 'arn:aws:secretsmanager:", "invalid, expired or revoked"]),
        (403, None, ["HTTP 403", "'api' scope", "Maintainer (or Owner) role in group 42"]),
        (404, None, ["HTTP 404", "group 42 exists"]),
        (500, None, ["HTTP 500", "server error"]),
        (None, requests.exceptions.ReadTimeout("read timed out"), ["no answer from https://gitlab.example.com"]),
    ],
)
def test_create_failure_raises_the_reason_for_cloudformation(
    seeded_aws: str,
    gitlab_api: GitLabApi,
    lambda_context: FakeLambdaContext,
    all_logs: list[str],
    status: int | None,
    raises: Exception | None,
    expected: list[str],
) -> None:
    if raises is not None:
        gitlab_api.add("POST", "/projects", raises=raises)
    else:
        gitlab_api.add("POST", "/projects", status=status, json={"message": f"{status} from GitLab"})

    # The Provider framework reports FAILED with the exception's message as the reason.
    with pytest.raises(RepositoryHostError) as error:
        on_event(_event("Create", _properties(GitLabTokenSecretArn=seeded_aws)), lambda_context)

    reason = str(error.value)
    assert f"could not create project '{BUILD_NAME}' in group 42" in reason
    for text in expected:
        assert text in reason
    # Nothing after the failed call was attempted.
    assert set(gitlab_api.calls) == {("POST", "/api/v4/projects")}
    # The token never reaches the reason, the traceback or any log record.
    assert any("Seed-code check-in Create failed" in text for text in all_logs)
    assert TOKEN not in "".join(traceback.format_exception(error.value))
    assert not [text for text in all_logs if TOKEN in text]


def test_variable_values_never_reach_the_logs(
    seeded_aws: str, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext, all_logs: list[str]
) -> None:
    props = _properties(GitLabTokenSecretArn=seeded_aws)
    _expect_new_project(
        gitlab_api,
        project_id=7,
        name=BUILD_NAME,
        label="model build",
        variables=props["ModelBuildVariables"],
        files=BUILD_FILES,
        pipeline_variables=False,
    )
    gitlab_api.add("POST", "/projects", status=201, json=project_json(8, DEPLOY_PATH, empty_repo=True))
    gitlab_api.add("GET", "/projects/8/variables", json=[])
    gitlab_api.add("POST", "/projects/8/variables", status=201, json={})
    gitlab_api.add("POST", "/projects/8/variables", status=400, json={"message": {"value": ["is invalid"]}})

    with pytest.raises(RepositoryHostError, match="create CI/CD variable 'DEPLOY_ROLE_ARN_STAGING'"):
        on_event(_event("Create", props), lambda_context)

    assert all_logs
    assert not [text for text in all_logs if DEPLOY_ROLE_CHAIN in text or TOKEN in text]


# --- properties -------------------------------------------------------------------------------


def test_properties_accept_cloudformation_strings() -> None:
    raw = _properties(
        GitLabGroupId="",
        GitLabServerUrl=f"{GITLAB_URL}/",
        ModelBuildVariables=json.dumps([{"Key": "A", "Value": " x ", "Masked": "true", "Protected": "False"}]),
        ModelBuildSeedCode=json.dumps({"Bucket": "b", "Key": "k"}),
    )

    props = parse_properties(_without(raw, "DefaultBranch"))

    assert props.group_id is None
    assert props.gitlab_server_url == GITLAB_URL
    assert props.default_branch == "main"
    assert (props.model_build_seed_code.bucket, props.model_build_seed_code.key) == ("b", "k")
    variable = props.model_build_variables[0].to_ci_variable()
    assert (variable.key, variable.value, variable.masked, variable.protected) == ("A", " x ", True, False)
    assert parse_properties(_properties()).group_id == 42


def _without(properties: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in properties.items() if key != name}


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (_without(_properties(), "ModelDeployRepoName"), "ModelDeployRepoName: Field required"),
        (_without(_properties(), "GitLabGroupId"), "GitLabGroupId: Field required"),
        (_properties(GitLabGroupId="None"), "GitLabGroupId: Value error, must be empty or a numeric GitLab group ID"),
        (
            _properties(GitLabServerUrl="gitlab.example.com"),
            "GitLabServerUrl: Value error, must be the GitLab server URL",
        ),
        (_properties(ModelBuildRepoName="my repo"), "ModelBuildRepoName: Value error, must be a GitLab project path"),
        (_properties(ModelBuildRepoName="repo.git"), "ModelBuildRepoName: Value error, must be a GitLab project path"),
        (_properties(DefaultBranch="my branch"), "DefaultBranch: String should match pattern"),
        (_properties(ModelDeploySeedCode={"Bucket": "b"}), "ModelDeploySeedCode.Key: Field required"),
        (_properties(ModelDeploySeedCode="{not json"), "ModelDeploySeedCode: Value error, must be an object"),
        (
            _properties(
                ModelDeployVariables=[{"Key": "K", "Value": "secret-v", "Masked": "maybe", "Protected": "false"}]
            ),
            "ModelDeployVariables.0.Masked: Input should be a valid boolean",
        ),
        (
            _properties(ModelBuildVariables=[{"Key": "BAD-KEY", "Value": "v"}]),
            "ModelBuildVariables.0.Key: String should match pattern",
        ),
        (
            _properties(ModelBuildVariables=[{"Key": "K", "Value": "1"}, {"Key": "K", "Value": "2"}]),
            "ModelBuildVariables: Value error, duplicate variable keys: K",
        ),
    ],
)
def test_invalid_properties_are_named(properties: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidPropertiesError) as error:
        parse_properties(properties)

    assert expected in str(error.value)
    assert "secret-v" not in str(error.value)


def test_invalid_properties_fail_the_resource(gitlab_api: GitLabApi, lambda_context: FakeLambdaContext) -> None:
    with pytest.raises(InvalidPropertiesError, match="ModelBuildSeedCode: Field required"):
        on_event(_event("Create", _without(_properties(), "ModelBuildSeedCode")), lambda_context)

    assert gitlab_api.calls == []


# --- Update -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old",
    [
        _properties(),
        # A rollback: going back from other repository names to these existing projects.
        _properties(ModelBuildRepoName="other-build", ModelDeployRepoName="other-deploy"),
    ],
)
def test_update_of_existing_projects_reapplies_variables_and_never_touches_the_code(
    seeded_aws: str, gitlab_api: GitLabApi, old: dict[str, Any]
) -> None:
    current = _properties(GitLabTokenSecretArn=seeded_aws)
    new = _properties(
        GitLabTokenSecretArn=seeded_aws,
        ModelBuildVariables=[
            {"Key": "SAGEMAKER_PROJECT_NAME", "Value": "renamed", "Masked": "false", "Protected": "false"}
        ],
        DefaultBranch="develop",
    )
    _expect_existing_project(gitlab_api, project_id=7, name=BUILD_NAME)
    _existing_variables(gitlab_api, project_id=7, variables=current["ModelBuildVariables"])
    gitlab_api.add(
        "PUT",
        "/projects/7/variables/SAGEMAKER_PROJECT_NAME",
        body={"value": "renamed", "masked": False, "protected": False},
        json={"key": "SAGEMAKER_PROJECT_NAME"},
    )
    _expect_existing_project(gitlab_api, project_id=8, name=DEPLOY_NAME)
    _existing_variables(gitlab_api, project_id=8, variables=current["ModelDeployVariables"])
    _expect_pipeline_variables_allowed(gitlab_api, project_id=8)

    result = handle_event(_event("Update", new, OldResourceProperties=old, PhysicalResourceId="old-id"))

    assert result == {"PhysicalResourceId": PHYSICAL_ID, "Data": EXPECTED_DATA}
    assert not [call for call in gitlab_api.calls if "/repository/" in call[1]]


def test_update_reseeds_a_project_that_was_deleted_in_gitlab(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    props = _properties(GitLabTokenSecretArn=seeded_aws)
    _expect_new_project(
        gitlab_api,
        project_id=7,
        name=BUILD_NAME,
        label="model build",
        variables=props["ModelBuildVariables"],
        files=BUILD_FILES,
        pipeline_variables=False,
    )
    _expect_existing_project(gitlab_api, project_id=8, name=DEPLOY_NAME)
    _existing_variables(gitlab_api, project_id=8, variables=props["ModelDeployVariables"])
    _expect_pipeline_variables_allowed(gitlab_api, project_id=8)

    result = handle_event(_event("Update", props, OldResourceProperties=props, PhysicalResourceId=PHYSICAL_ID))

    assert result["PhysicalResourceId"] == PHYSICAL_ID
    assert [call for call in gitlab_api.calls if call[1].endswith("/commits")] == [
        ("POST", "/api/v4/projects/7/repository/commits")
    ]


def test_update_to_new_repository_names_seeds_the_new_projects_under_a_new_physical_id(
    seeded_aws: str, gitlab_api: GitLabApi
) -> None:
    old = _properties(GitLabTokenSecretArn=seeded_aws, ModelBuildRepoName="old-build")
    new = _properties(GitLabTokenSecretArn=seeded_aws)
    _expect_new_project(
        gitlab_api,
        project_id=7,
        name=BUILD_NAME,
        label="model build",
        variables=new["ModelBuildVariables"],
        files=BUILD_FILES,
        pipeline_variables=False,
    )
    _expect_existing_project(gitlab_api, project_id=8, name=DEPLOY_NAME)
    _existing_variables(gitlab_api, project_id=8, variables=new["ModelDeployVariables"])
    _expect_pipeline_variables_allowed(gitlab_api, project_id=8)
    old_physical_id = f"{GITLAB_URL}|team/old-build|{DEPLOY_PATH}"

    result = handle_event(_event("Update", new, OldResourceProperties=old, PhysicalResourceId=old_physical_id))

    # The new PhysicalResourceId makes CloudFormation send Delete for the old one.
    assert result == {"PhysicalResourceId": PHYSICAL_ID, "Data": EXPECTED_DATA}
    assert [call for call in gitlab_api.calls if "/repository/" in call[1]] == [
        ("POST", "/api/v4/projects/7/repository/commits")
    ]


# --- Delete and unknown requests --------------------------------------------------------------


def _no_host(_: Any) -> Any:
    raise AssertionError("Delete must not contact GitLab")


@pytest.mark.parametrize(
    "event",
    [
        _event("Delete", PhysicalResourceId=PHYSICAL_ID),
        # Even a resource whose Create failed on invalid properties must delete cleanly.
        {"RequestType": "Delete", "PhysicalResourceId": PHYSICAL_ID, "ResourceProperties": {"GitLabGroupId": "x"}},
    ],
)
def test_delete_keeps_the_projects_and_always_succeeds(
    gitlab_api: GitLabApi, lambda_context: FakeLambdaContext, event: dict[str, Any]
) -> None:
    for response in (handle_event(event, host_factory=_no_host), on_event(event, lambda_context)):
        assert response["PhysicalResourceId"] == PHYSICAL_ID
        assert response["Data"]["DeleteOutcome"].startswith("kept the GitLab projects")
    assert gitlab_api.calls == []


def _delete_archiving() -> dict[str, Any]:
    return _event("Delete", _properties(OnDelete="archive"), PhysicalResourceId=PHYSICAL_ID)


def _encoded(path: str) -> str:
    return path.replace("/", "%2F")


def test_delete_with_archive_archives_both_projects(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    event = _delete_archiving()
    event["ResourceProperties"]["GitLabTokenSecretArn"] = seeded_aws
    for path in (BUILD_PATH, DEPLOY_PATH):
        gitlab_api.add("POST", f"/projects/{_encoded(path)}/archive", json=project_json(1, path), status=201)
    response = handle_event(event)
    assert response["Data"]["DeleteOutcome"] == f"archived {BUILD_PATH}, {DEPLOY_PATH}"
    assert gitlab_api.calls == [("POST", f"/api/v4/projects/{_encoded(p)}/archive") for p in (BUILD_PATH, DEPLOY_PATH)]


def test_delete_never_fails_when_gitlab_refuses_to_archive(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    event = _delete_archiving()
    event["ResourceProperties"]["GitLabTokenSecretArn"] = seeded_aws
    gitlab_api.add("POST", f"/projects/{_encoded(BUILD_PATH)}/archive", json={"message": "403 Forbidden"}, status=403)
    gitlab_api.add("POST", f"/projects/{_encoded(DEPLOY_PATH)}/archive", json=project_json(2, DEPLOY_PATH), status=201)
    outcome = handle_event(event)["Data"]["DeleteOutcome"]
    assert outcome.startswith(f"archived {DEPLOY_PATH}; kept, not archived: {BUILD_PATH} (")
    assert "403" in outcome


def test_delete_never_fails_when_the_connection_is_not_allowed(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    outcome = handle_event(_delete_archiving())["Data"]["DeleteOutcome"]  # the placeholder secret: not configured
    assert outcome.startswith(f"kept the GitLab projects {BUILD_PATH}, {DEPLOY_PATH}: could not reach GitLab")
    assert gitlab_api.calls == []


def test_unknown_request_type_fails() -> None:
    with pytest.raises(ValueError, match="Unsupported RequestType 'Replace'"):
        handle_event(_event("Replace"), host_factory=_no_host)


# --- connections: a token goes only to the server configured for its secret --------------------


def test_a_connection_outside_the_configuration_is_refused_before_the_secret_is_read(seeded_aws: str) -> None:
    with pytest.raises(ConnectionNotAllowedError, match="is not one of the configured GitLab connections"):
        handle_event(_event("Create", _properties(GitLabTokenSecretArn=PLACEHOLDER_SECRET_ARN)), host_factory=_no_host)


def test_without_configured_connections_nothing_is_allowed(seeded_aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITLAB_CONNECTIONS")
    with pytest.raises(ConnectionNotAllowedError, match="no GitLab server is allowed"):
        handle_event(_event("Create", _properties(GitLabTokenSecretArn=seeded_aws)), host_factory=_no_host)


# --- namespace and existing projects ----------------------------------------------------------


def test_a_project_outside_the_trusted_namespace_fails_before_anything_is_written(
    seeded_aws: str, gitlab_api: GitLabApi
) -> None:
    """The CI roles trust team/<repo>: a project created elsewhere could never assume them."""
    gitlab_api.add("POST", "/projects", status=201, json=project_json(7, f"someone/{BUILD_NAME}", empty_repo=True))

    with pytest.raises(NamespaceMismatchError) as error:
        handle_event(_event("Create", _properties(GitLabTokenSecretArn=seeded_aws)))

    assert f"'someone/{BUILD_NAME}'" in str(error.value) and f"trust only 'team/{BUILD_NAME}'" in str(error.value)
    assert gitlab_api.calls == [("POST", "/api/v4/projects")]


def _tree_page(entries: list[dict[str, str]], *, page: int, pages: int, per_page: int = 100) -> dict[str, Any]:
    """One page of GitLab's repository tree, with the pagination headers GitLab sends."""
    headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total-Pages": str(pages)}
    if page < pages:
        query = f"page={page + 1}&per_page={per_page}&recursive=True&ref=main"
        next_url = f"{GITLAB_URL}/api/v4/projects/7/repository/tree?{query}"
        headers |= {"X-Next-Page": str(page + 1), "Link": f'<{next_url}>; rel="next"'}
    return {"json": entries, "headers": headers}


def test_create_never_overwrites_an_existing_project_whose_files_differ(seeded_aws: str, gitlab_api: GitLabApi) -> None:
    """The differing file sits on the tree's second page: the whole tree is read."""
    _expect_existing_project(gitlab_api, project_id=7, name=BUILD_NAME)
    gitlab_api.add("GET", "/projects/7", json=project_json(7, BUILD_PATH))
    unrelated = [{"id": f"{n:040x}", "path": f"docs/{n}.md", "type": "blob"} for n in range(100)]
    first, second = (
        _tree_page(unrelated, page=1, pages=2),
        _tree_page(
            [{"id": git_blob_sha(b"someone's pipeline"), "path": "pipelines/pipeline.py", "type": "blob"}],
            page=2,
            pages=2,
        ),
    )
    gitlab_api.mock.add(
        responses.GET,
        f"{GITLAB_URL}/api/v4/projects/7/repository/tree",
        **first,
        match=[matchers.query_param_matcher({"ref": "main", "recursive": "True", "per_page": "100"})],
    )
    gitlab_api.mock.add(
        responses.GET,
        f"{GITLAB_URL}/api/v4/projects/7/repository/tree",
        **second,
        match=[matchers.query_param_matcher({"ref": "main", "recursive": "True", "per_page": "100", "page": "2"})],
    )

    with pytest.raises(SeedConflictError) as error:
        handle_event(_event("Create", _properties(GitLabTokenSecretArn=seeded_aws)))

    reason = str(error.value)
    assert f"'{BUILD_PATH}' already exists" in reason and "pipelines/pipeline.py" in reason
    assert not [call for call in gitlab_api.calls if call[0] != "GET" and call[1] != "/api/v4/projects"]
    assert [c.request.url for c in gitlab_api.mock.calls if "tree" in c.request.url][-1].endswith(
        "page=2&per_page=100&recursive=True&ref=main"
    )


def test_variables_whose_names_say_credential_never_travel_through_the_template() -> None:
    for key in ("AWS_SECRET_ACCESS_KEY", "GITLAB_TOKEN", "DB_PASSWORD", "AWS_ACCESS_KEY_ID"):
        with pytest.raises(InvalidPropertiesError, match=f"variable {key} looks like a credential"):
            parse_properties(_properties(ModelBuildVariables=[{"Key": key, "Value": "v"}]))


# --- Custom::ProjectNames -----------------------------------------------------------------------


def test_project_names_are_lower_cased_as_sagemaker_writes_them_in_arns(lambda_context: FakeLambdaContext) -> None:
    event = {
        "RequestType": "Create",
        "ResourceType": "Custom::ProjectNames",
        "ResourceProperties": {"SageMakerProjectName": "MyProject", "SageMakerProjectId": "p-abc123def456"},
    }

    result = on_event(event, lambda_context)

    assert result == {
        "PhysicalResourceId": "myproject-p-abc123def456",
        "Data": {"NameLower": "myproject", "PrefixLower": "myproject-p-abc123def456"},
    }
    assert handle_event({**event, "RequestType": "Delete", "PhysicalResourceId": "x"}) == {"PhysicalResourceId": "x"}
    with pytest.raises(ValueError, match="'My Project' is not a SageMaker project name"):
        handle_event(
            {**event, "ResourceProperties": {"SageMakerProjectName": "My Project", "SageMakerProjectId": "p-1"}}
        )
