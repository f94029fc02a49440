"""The local repository host honours the same contract as the GitLab host."""

from __future__ import annotations

import subprocess

import pytest

from gitlab_host import CiVariable, RepositoryHost, RepositoryHostError
from local_lifecycle.local_repository_host import VARIABLES_FILE, LocalRepositoryHost


def git(repo, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def test_implements_the_repository_host_protocol(tmp_path) -> None:
    assert isinstance(LocalRepositoryHost(tmp_path), RepositoryHost)


def test_ensure_project_is_idempotent_and_namespaced(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path, groups={42: "org/team"}, personal_namespace="alice")
    first = host.ensure_project("build", namespace_id=42)
    again = host.ensure_project("build", namespace_id=42)
    personal = host.ensure_project("build")
    assert first.created and not again.created
    assert first.id == again.id != personal.id
    assert first.path_with_namespace == "org/team/build"
    assert personal.path_with_namespace == "alice/build"
    assert host.get_project(first.id).path_with_namespace == "org/team/build"
    with pytest.raises(RepositoryHostError) as error:
        host.ensure_project("build", namespace_id=7)
    assert error.value.status_code == 404


def test_differing_files_names_only_files_whose_content_differs(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path)
    project = host.ensure_project("build")
    assert host.differing_files(project.id, branch="main", files={"a": b"1"}) == []  # empty repository
    host.commit_files(project.id, branch="main", files={"a": b"1", "b": b"2"}, message="m")
    assert host.differing_files(project.id, branch="main", files={"a": b"1", "b": b"changed", "new": b"x"}) == ["b"]


def test_commit_files_makes_one_commit_and_skips_identical_content(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path)
    project = host.ensure_project("deploy")
    files = {"a.txt": b"alpha", "dir/b.bin": bytes(range(256)), "run.sh": b"#!/bin/sh\necho hi\n"}
    sha = host.commit_files(project.id, branch="main", files=files, message="seed")
    repo = host.repo_path(project.id)
    assert sha and git(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert (repo / "dir" / "b.bin").read_bytes() == bytes(range(256))
    assert (repo / "run.sh").stat().st_mode & 0o111
    assert host.commit_files(project.id, branch="main", files=files, message="again") is None
    assert host.commit_files(project.id, branch="main", files={"a.txt": b"changed"}, message="edit")
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "2"
    assert (repo / "dir" / "b.bin").is_file(), "files absent from a commit are never deleted"


def test_commit_rejects_paths_outside_the_repository(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path)
    project = host.ensure_project("x")
    with pytest.raises(RepositoryHostError, match="escapes the repository"):
        host.commit_files(project.id, branch="main", files={"../evil": b"x"}, message="m")


def test_variables_are_upserted_into_the_gitlab_ci_local_file_and_never_committed(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path)
    project = host.ensure_project("x")
    host.set_variables(project.id, [CiVariable("A", "1"), CiVariable("B", "2", masked=True)])
    host.set_variables(project.id, [CiVariable("A", "3")])
    assert host.variables(project.id) == {"A": "3", "B": "2"}
    host.commit_files(project.id, branch="main", files={"f": b"x"}, message="m")
    assert VARIABLES_FILE not in git(host.repo_path(project.id), "ls-files")
    assert git(host.repo_path(project.id), "status", "--porcelain").strip() == ""


def test_started_pipelines_are_queued_with_their_variables(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path)
    project = host.ensure_project("deploy")
    ref = host.start_pipeline(project.id, ref="main", variables={"MODEL_PACKAGE_ARN": "arn:x"})
    assert ref.id == 1 and ref.web_url.endswith("#pipeline-1")
    assert host.pipelines() == [
        {"id": 1, "project_id": project.id, "ref": "main", "variables": {"MODEL_PACKAGE_ARN": "arn:x"}}
    ]


def test_unknown_project_is_a_404(tmp_path) -> None:
    with pytest.raises(RepositoryHostError) as error:
        LocalRepositoryHost(tmp_path).start_pipeline(99, ref="main", variables={})
    assert error.value.status_code == 404


def test_archiving_marks_the_project_by_id_or_path(tmp_path) -> None:
    host = LocalRepositoryHost(tmp_path)
    project = host.ensure_project("build")
    assert not host.archived(project.id)
    host.archive_project(project.path_with_namespace)
    assert host.archived(project.id)
