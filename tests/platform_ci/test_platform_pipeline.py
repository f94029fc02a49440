"""The platform's own GitLab CI (.gitlab-ci.yml at the repository root).

Validated against GitLab's CI schema (check-jsonschema's built-in copy, offline), its shape checked
(stages in order, OIDC-only deployments, production manual), and its check, test and synth jobs
run under gitlab-ci-local in a copy of this working tree, as a shell runner would run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / ".gitlab-ci.yml"
GITLAB_CI_LOCAL = REPO / "node_modules" / ".bin" / "gitlab-ci-local"
# Installed tools travel as links, not copies (they are large and identical).
INSTALLED = (".venv", "node_modules", ".venv-checkov", ".venv-pytorch")
# What the pipeline's `cache:` restores into a job (mypy's incremental caches), copied when present.
CACHED = (".mypy_cache", "seedcode/model-build/.mypy_cache", "seedcode/model-deploy/.mypy_cache")


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PIPELINE.read_text())
    return document


def test_valid_against_gitlabs_schema() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(PIPELINE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stages_run_check_test_synth_diff_dev_then_production(ci: dict[str, Any]) -> None:
    assert ci["stages"] == ["check", "test", "synth", "diff", "deploy-dev", "deploy-production"]
    assert [ci[job]["stage"] for job in ("check", "test", "synth", "diff", "deploy-dev", "deploy-production")] == [
        "check",
        "test",
        "synth",
        "diff",
        "deploy-dev",
        "deploy-production",
    ]
    assert ci["check"]["script"] == ["make check"]
    assert ci["synth"]["script"] == ["make lint"]
    assert ci["deploy-dev"]["needs"] == ["diff", "check", "test"]
    assert ci["deploy-production"]["needs"] == ["deploy-dev"]


def test_deployments_use_gitlab_oidc_and_production_is_manual_on_the_default_branch(ci: dict[str, Any]) -> None:
    assert ci[".deploy"]["id_tokens"] == {"GITLAB_OIDC_TOKEN": {"aud": "sts.amazonaws.com"}}
    for job in ("diff", "deploy-dev", "deploy-production"):
        assert ci[job]["extends"] == ".deploy"
        assert all(rule["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" for rule in ci[job]["rules"])
    assert ci["deploy-dev"]["environment"]["name"] == "dev"
    assert ci["deploy-production"]["environment"]["name"] == "production"
    (rule,) = ci["deploy-production"]["rules"]
    assert rule["when"] == "manual" and rule["allow_failure"] is False
    text = PIPELINE.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "AWS_ACCESS_KEY_ID" not in text


@pytest.fixture(scope="module")
def working_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked and untracked-but-not-ignored files of this tree in a fresh git repository."""
    copy = tmp_path_factory.mktemp("platform") / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    for name in INSTALLED:
        if (REPO / name).exists():
            (copy / name).symlink_to(REPO / name)
    for name in CACHED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, copy / name, symlinks=True)
    # The data the tests read beside the repository (../shared), as in a clean clone.
    if (REPO.parent / "shared").exists() and not (copy.parent / "shared").exists():
        (copy.parent / "shared").symlink_to(REPO.parent / "shared")
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=copy, check=True)
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "platform"], cwd=copy, check=True)
    return copy


def run_job(copy: Path, job: str, *variables: str) -> subprocess.CompletedProcess[str]:
    command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", job]
    for variable in variables:
        command += ["--variable", variable]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(GITLAB_CI_LOCAL.parent), env["PATH"]])
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("job", "variables", "evidence"),
    [
        ("check", (), "Success: no issues found"),
        ("test", ("PYTEST_ARGS=tests/cdk/test_config.py",), "passed"),
        ("synth", (), "lint: cfn-lint on"),
    ],
)
def test_check_test_and_synth_jobs_pass_under_gitlab_ci_local(
    working_copy: Path, job: str, variables: tuple[str, ...], evidence: str
) -> None:
    result = run_job(working_copy, job, *variables)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"{job} finished" in output or "PASS" in output, output[-2000:]
    assert evidence in output, output[-2000:]
    if job == "test":
        assert (working_copy / "build" / "test-report.xml").is_file()
