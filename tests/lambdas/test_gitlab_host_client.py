"""GitLabHost against the GitLab REST API (mocked with ``responses``)."""

from __future__ import annotations

import base64

import pytest
import requests
from lambda_test_support import API, GITLAB_URL, TOKEN, GitLabApi, project_json
from responses import matchers

from gitlab_host import CiVariable, GitLabHost, ProjectRef, RepositoryHost, RepositoryHostError
from gitlab_host.gitlab_client import git_blob_sha

MAX_RETRIES = 2


@pytest.fixture
def host() -> GitLabHost:
    return GitLabHost(GITLAB_URL, TOKEN, token_source="Secrets Manager secret 's'", max_retries=MAX_RETRIES)


def test_gitlab_host_satisfies_the_repository_host_protocol(host: GitLabHost) -> None:
    assert isinstance(host, RepositoryHost)


def test_ci_variable_repr_hides_the_value() -> None:
    assert "hunter2-secret" not in repr(CiVariable(key="AWS_SECRET_ACCESS_KEY", value="hunter2-secret", masked=True))


def test_git_blob_sha_matches_git_hash_object() -> None:
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


# --- ensure_project ---------------------------------------------------------------------------


def test_ensure_project_creates_a_private_project_in_the_group(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add(
        "POST",
        "/projects",
        status=201,
        body={"name": "build", "path": "build", "visibility": "private", "namespace_id": 42, "description": "d"},
        json=project_json(7, "team/build", empty_repo=True),
    )

    ref = host.ensure_project("build", namespace_id=42, description="d")

    assert ref == ProjectRef(id=7, path_with_namespace="team/build", web_url=f"{GITLAB_URL}/team/build", created=True)


def test_ensure_project_without_group_uses_the_personal_namespace(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add(
        "POST",
        "/projects",
        status=201,
        body={"name": "build", "path": "build", "visibility": "private"},
        json=project_json(7, "alice/build", empty_repo=True),
    )

    assert host.ensure_project("build").path_with_namespace == "alice/build"


@pytest.mark.parametrize("status", [400, 409])
def test_ensure_project_reuses_the_project_already_at_the_group_path(
    gitlab_api: GitLabApi, host: GitLabHost, status: int
) -> None:
    gitlab_api.add(
        "POST",
        "/projects",
        status=status,
        json={"message": {"name": ["has already been taken"], "path": ["has already been taken"]}},
    )
    gitlab_api.add("GET", "/namespaces/42", json={"id": 42, "full_path": "org/team"})
    gitlab_api.add("GET", "/projects/org%2Fteam%2Fbuild", json=project_json(7, "org/team/build"))

    ref = host.ensure_project("build", namespace_id=42)

    assert (ref.id, ref.path_with_namespace, ref.created) == (7, "org/team/build", False)


def test_ensure_project_reuses_the_project_already_in_the_personal_namespace(
    gitlab_api: GitLabApi, host: GitLabHost
) -> None:
    gitlab_api.add("POST", "/projects", status=400, json={"message": {"path": ["has already been taken"]}})
    gitlab_api.add("GET", "/user", json={"id": 1, "username": "alice"})
    gitlab_api.add("GET", "/projects/alice%2Fbuild", json=project_json(9, "alice/build"))

    ref = host.ensure_project("build")

    assert (ref.id, ref.created) == (9, False)


def test_ensure_project_reports_other_bad_requests(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add("POST", "/projects", status=400, json={"message": {"path": ["is reserved"]}})

    with pytest.raises(RepositoryHostError) as error:
        host.ensure_project("build", namespace_id=42)

    assert error.value.status_code == 400
    assert "create project 'build' in group 42" in str(error.value)
    assert "is reserved" in str(error.value)


# --- error translation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, ["HTTP 401", "invalid, expired or revoked", "Secrets Manager secret 's'"]),
        (403, ["HTTP 403", "'api' scope", "Maintainer (or Owner) role in group 42"]),
        (404, ["HTTP 404", "group 42 exists", "member"]),
        (500, ["HTTP 500", "server error", f"after {MAX_RETRIES} retries"]),
    ],
)
def test_http_errors_name_operation_status_and_what_to_check(
    gitlab_api: GitLabApi, host: GitLabHost, status: int, expected: list[str]
) -> None:
    gitlab_api.add("POST", "/projects", status=status, json={"message": f"{status} from server"})

    with pytest.raises(RepositoryHostError) as error:
        host.ensure_project("build", namespace_id=42)

    message = str(error.value)
    assert error.value.status_code == status
    assert "could not create project 'build' in group 42" in message
    for text in expected:
        assert text in message
    assert TOKEN not in message


def test_server_errors_are_retried_a_bounded_number_of_times(
    gitlab_api: GitLabApi, host: GitLabHost, retry_sleeps: list[float]
) -> None:
    failing = gitlab_api.add("GET", "/projects/7", status=503, json={"message": "unavailable"})

    with pytest.raises(RepositoryHostError, match="HTTP 503"):
        host.get_project(7)

    assert failing.call_count == MAX_RETRIES + 1
    assert len(retry_sleeps) == MAX_RETRIES


def test_a_transient_server_error_is_retried_until_success(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add("GET", "/projects/7", status=502, json={"message": "bad gateway"})
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build"))

    assert host.get_project(7).path_with_namespace == "team/build"
    assert gitlab_api.calls == [("GET", "/api/v4/projects/7")] * 2


def test_client_errors_are_not_retried(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    forbidden = gitlab_api.add("GET", "/projects/7", status=403, json={"message": "403 Forbidden"})

    with pytest.raises(RepositoryHostError, match="HTTP 403"):
        host.get_project(7)

    assert forbidden.call_count == 1


@pytest.mark.parametrize("timeout", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout])
def test_a_hung_server_fails_fast_with_a_timeout_error(
    gitlab_api: GitLabApi, host: GitLabHost, timeout: type[Exception]
) -> None:
    hung = gitlab_api.add("POST", "/projects/7/pipeline", raises=timeout("timed out"))

    with pytest.raises(RepositoryHostError) as error:
        host.start_pipeline(7, ref="main", variables={})

    assert hung.call_count == MAX_RETRIES + 1
    message = str(error.value)
    assert error.value.status_code is None
    assert "could not start a pipeline on 'main' in project 7" in message
    assert f"no answer from {GITLAB_URL} within 20 s" in message


def test_an_unreachable_server_is_reported(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add("GET", "/projects/7", raises=requests.exceptions.ConnectionError("Name or service not known"))

    with pytest.raises(RepositoryHostError, match=f"cannot connect to {GITLAB_URL}"):
        host.get_project(7)


def test_requests_carry_the_configured_timeout(gitlab_api: GitLabApi) -> None:
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build"))

    GitLabHost(GITLAB_URL, TOKEN, timeout_s=3.5).get_project(7)

    assert gitlab_api.mock.calls[0].request.req_kwargs["timeout"] == 3.5


# --- commit_files -----------------------------------------------------------------------------


def test_commit_files_into_an_empty_project_creates_every_file_in_one_commit(
    gitlab_api: GitLabApi, host: GitLabHost
) -> None:
    binary = bytes([0x89, 0x50, 0x4E, 0x47, 0xFF, 0x00])
    latin1 = "café".encode("latin-1")
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build", empty_repo=True))
    gitlab_api.add(
        "POST",
        "/projects/7/repository/commits",
        status=201,
        body={
            "branch": "main",
            "commit_message": "seed",
            "actions": [
                {"action": "create", "file_path": ".gitlab-ci.yml", "content": "stages: [train]\n", "encoding": "text"},
                {
                    "action": "create",
                    "file_path": "img/logo.png",
                    "content": base64.b64encode(binary).decode(),
                    "encoding": "base64",
                },
                {
                    "action": "create",
                    "file_path": "notes.txt",
                    "content": base64.b64encode(latin1).decode(),
                    "encoding": "base64",
                },
                {
                    "action": "create",
                    "file_path": "pipelines/run.py",
                    "content": "print('ünïcode')\n",
                    "encoding": "text",
                },
            ],
        },
        json={"id": "abc123"},
    )

    sha = host.commit_files(
        7,
        branch="main",
        message="seed",
        files={
            "pipelines/run.py": "print('ünïcode')\n".encode(),
            ".gitlab-ci.yml": b"stages: [train]\n",
            "img/logo.png": binary,
            "notes.txt": latin1,
        },
    )

    assert sha == "abc123"


def test_commit_files_updates_changed_files_creates_new_ones_and_skips_identical_ones(
    gitlab_api: GitLabApi, host: GitLabHost
) -> None:
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build"))
    gitlab_api.add(
        "GET",
        "/projects/7/repository/tree",
        query={"ref": "main", "recursive": "True", "per_page": "100"},
        json=[
            {"id": git_blob_sha(b"same\n"), "path": "same.txt", "type": "blob"},
            {"id": git_blob_sha(b"old\n"), "path": "changed.txt", "type": "blob"},
            {"id": "d0d0", "path": "pipelines", "type": "tree"},
            {"id": git_blob_sha(b"user work\n"), "path": "pipelines/user.py", "type": "blob"},
        ],
    )
    gitlab_api.add(
        "POST",
        "/projects/7/repository/commits",
        status=201,
        body={
            "branch": "main",
            "commit_message": "seed",
            "actions": [
                {"action": "update", "file_path": "changed.txt", "content": "new\n", "encoding": "text"},
                {"action": "create", "file_path": "new.txt", "content": "brand new\n", "encoding": "text"},
            ],
        },
        json={"id": "def456"},
    )

    sha = host.commit_files(
        7,
        branch="main",
        message="seed",
        files={"same.txt": b"same\n", "changed.txt": b"new\n", "new.txt": b"brand new\n"},
    )

    assert sha == "def456"


def test_commit_files_makes_no_commit_when_nothing_changed(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build"))
    gitlab_api.add("GET", "/projects/7/repository/tree", json=[{"id": git_blob_sha(b"x"), "path": "a", "type": "blob"}])

    assert host.commit_files(7, branch="main", message="seed", files={"a": b"x"}) is None
    assert ("POST", "/api/v4/projects/7/repository/commits") not in gitlab_api.calls


def test_commit_files_to_a_missing_branch_starts_from_the_default_branch(
    gitlab_api: GitLabApi, host: GitLabHost
) -> None:
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build", default_branch="master"))
    gitlab_api.add(
        "GET",
        "/projects/7/repository/tree",
        query={"ref": "main", "recursive": "True", "per_page": "100"},
        status=404,
        json={"message": "404 Tree Not Found"},
    )
    gitlab_api.add(
        "GET",
        "/projects/7/repository/tree",
        query={"ref": "master", "recursive": "True", "per_page": "100"},
        json=[{"id": git_blob_sha(b"readme"), "path": "README.md", "type": "blob"}],
    )
    gitlab_api.add(
        "POST",
        "/projects/7/repository/commits",
        status=201,
        body={
            "branch": "main",
            "start_branch": "master",
            "commit_message": "seed",
            "actions": [{"action": "update", "file_path": "README.md", "content": "seed", "encoding": "text"}],
        },
        json={"id": "0a1"},
    )

    assert host.commit_files(7, branch="main", message="seed", files={"README.md": b"seed"}) == "0a1"


def test_commit_files_failure_names_the_branch_and_project(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build", empty_repo=True))
    gitlab_api.add("POST", "/projects/7/repository/commits", status=403, json={"message": "403 Forbidden"})

    with pytest.raises(RepositoryHostError) as error:
        host.commit_files(7, branch="main", message="seed", files={"a": b"x"})

    assert "could not commit 1 files to branch 'main' in project 7: HTTP 403" in str(error.value)


# --- variables, pipeline settings, pipelines --------------------------------------------------


def test_set_variables_creates_missing_updates_changed_and_leaves_identical_ones(
    gitlab_api: GitLabApi, host: GitLabHost
) -> None:
    gitlab_api.add(
        "GET",
        "/projects/7/variables",
        json=[
            {"key": "SAME", "value": "1", "masked": False, "protected": False, "environment_scope": "*"},
            {"key": "CHANGED", "value": "old", "masked": False, "protected": False, "environment_scope": "*"},
            {"key": "SCOPED", "value": "x", "masked": False, "protected": False, "environment_scope": "production"},
        ],
    )
    gitlab_api.add(
        "PUT",
        "/projects/7/variables/CHANGED",
        body={"value": "new", "masked": True, "protected": False},
        json={"key": "CHANGED", "value": "new", "masked": True, "protected": False},
    )
    gitlab_api.add(
        "POST",
        "/projects/7/variables",
        status=201,
        body={"key": "SCOPED", "value": "y", "masked": False, "protected": True},
        json={"key": "SCOPED"},
    )
    gitlab_api.add(
        "POST",
        "/projects/7/variables",
        status=201,
        body={"key": "NEW", "value": "secret-value-1", "masked": True, "protected": True},
        json={"key": "NEW"},
    )

    host.set_variables(
        7,
        [
            CiVariable("SAME", "1"),
            CiVariable("CHANGED", "new", masked=True),
            CiVariable("SCOPED", "y", protected=True),
            CiVariable("NEW", "secret-value-1", masked=True, protected=True),
        ],
    )

    assert [call for call in gitlab_api.calls if call[0] != "GET"] == [
        ("PUT", "/api/v4/projects/7/variables/CHANGED"),
        ("POST", "/api/v4/projects/7/variables"),
        ("POST", "/api/v4/projects/7/variables"),
    ]


def test_set_variables_reads_every_page_of_existing_variables(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    """A variable on the second page exists already: updating it is a PUT, never a duplicate POST."""
    url = f"{API}/projects/7/variables"
    existing = [
        {"key": f"V{n}", "value": "x", "masked": False, "protected": False, "environment_scope": "*"}
        for n in range(100)
    ]
    gitlab_api.mock.add(
        "GET",
        url,
        json=existing,
        headers={
            "X-Page": "1",
            "X-Next-Page": "2",
            "X-Per-Page": "100",
            "X-Total-Pages": "2",
            "Link": f'<{url}?page=2&per_page=100>; rel="next", <{url}?page=2&per_page=100>; rel="last"',
        },
        match=[matchers.query_param_matcher({"per_page": "100"})],
    )
    gitlab_api.mock.add(
        "GET",
        url,
        json=[{"key": "LAST", "value": "old", "masked": False, "protected": True, "environment_scope": "*"}],
        headers={"X-Page": "2", "X-Next-Page": "", "X-Per-Page": "100", "X-Total-Pages": "2"},
        match=[matchers.query_param_matcher({"page": "2", "per_page": "100"})],
    )
    gitlab_api.add(
        "PUT", "/projects/7/variables/LAST", body={"value": "new", "masked": False, "protected": True}, json={}
    )

    host.set_variables(7, [CiVariable("LAST", "new", protected=True), CiVariable("V99", "x")])

    assert [call for call in gitlab_api.calls if call[0] != "GET"] == [("PUT", "/api/v4/projects/7/variables/LAST")]
    assert len([call for call in gitlab_api.calls if call[0] == "GET"]) == 2


def test_set_variables_reports_the_variable_key_but_not_its_value(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add("GET", "/projects/7/variables", json=[])
    gitlab_api.add("POST", "/projects/7/variables", status=400, json={"message": {"value": ["is invalid"]}})

    with pytest.raises(RepositoryHostError) as error:
        host.set_variables(7, [CiVariable("AWS_SECRET_ACCESS_KEY", "short secret", masked=True)])

    assert "create CI/CD variable 'AWS_SECRET_ACCESS_KEY' in project 7: HTTP 400" in str(error.value)
    assert "short secret" not in str(error.value)


def test_allow_pipeline_variables_sets_the_minimum_role(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add(
        "PUT",
        "/projects/8",
        body={"restrict_user_defined_variables": True, "ci_pipeline_variables_minimum_override_role": "maintainer"},
        json=project_json(8, "team/deploy"),
    )

    host.allow_pipeline_variables(8)


def test_start_pipeline_passes_the_variables(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add(
        "POST",
        "/projects/8/pipeline",
        status=201,
        body={
            "ref": "main",
            "variables": [
                {"key": "A", "value": "1", "variable_type": "env_var"},
                {"key": "B", "value": "two", "variable_type": "env_var"},
            ],
        },
        json={"id": 55, "web_url": f"{GITLAB_URL}/team/deploy/-/pipelines/55"},
    )

    pipeline = host.start_pipeline(8, ref="main", variables={"A": "1", "B": "two"})

    assert (pipeline.id, pipeline.web_url) == (55, f"{GITLAB_URL}/team/deploy/-/pipelines/55")


def test_start_pipeline_explains_restricted_pipeline_variables(gitlab_api: GitLabApi, host: GitLabHost) -> None:
    gitlab_api.add(
        "POST",
        "/projects/8/pipeline",
        status=400,
        json={"message": {"base": ["Insufficient permissions to set pipeline variables"]}},
    )

    with pytest.raises(RepositoryHostError, match="Minimum role to use pipeline variables"):
        host.start_pipeline(8, ref="main", variables={"A": "1"})


def test_a_trailing_slash_in_the_server_url_is_ignored(gitlab_api: GitLabApi) -> None:
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build"))

    GitLabHost(f"{GITLAB_URL}/", TOKEN).get_project(7)

    assert gitlab_api.mock.calls[0].request.url == f"{API}/projects/7"
