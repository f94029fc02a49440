"""The deploy repository's .gitlab-ci.yml (GitLab's schema, jobs, artifacts, AWS authentication) and
its requirements.txt (the platform's pins, so `pip install -r requirements.txt` is a no-op there)."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tooling.gitlab_ci_schema import gitlab_ci_errors
from tooling.requirement_pins import read_pins as requirement_pins

from .conftest import REPO, SEED

RESERVED = {
    "stages",
    "variables",
    "default",
    "workflow",
    "include",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
}


@pytest.fixture(scope="module")
def ci() -> dict:
    return yaml.safe_load((SEED / ".gitlab-ci.yml").read_text())


def test_valid_against_gitlab_schema():
    assert gitlab_ci_errors(SEED / ".gitlab-ci.yml") == ""


def test_schema_would_notice_a_mistake(ci, tmp_path):
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(yaml.safe_dump({**ci, "deploy-prod": {**ci["deploy-prod"], "when": "by-hand"}}))
    assert "by-hand" in gitlab_ci_errors(broken)


def test_four_stages_and_their_jobs(ci):
    assert ci["stages"] == ["build", "staging-deploy", "test-staging", "production-deploy"]
    jobs = {name: job for name, job in ci.items() if name not in RESERVED}
    assert {name: job["stage"] for name, job in jobs.items()} == {
        "build": "build",
        "deploy-staging": "staging-deploy",
        "test-staging": "test-staging",
        "deploy-prod": "production-deploy",
    }
    assert jobs["deploy-prod"]["when"] == "manual"
    assert all("when" not in job for name, job in jobs.items() if name != "deploy-prod")
    assert ci["default"]["image"] == "python:3.12-slim"


def test_artifacts_flow_between_jobs(ci):
    assert ci["build"]["artifacts"]["paths"] == ["build/"]
    assert "python build.py --output-dir build" in ci["build"]["script"]
    assert ci["deploy-staging"]["needs"] == ["build"]
    assert ci["deploy-staging"]["artifacts"]["paths"] == ["build/staging-outputs.json"]
    assert ci["test-staging"]["needs"] == ["build", "deploy-staging"]
    assert ci["test-staging"]["artifacts"]["reports"]["junit"] == "build/test-report.xml"
    assert ci["test-staging"]["artifacts"]["when"] == "always"
    assert ci["deploy-prod"]["needs"] == ["build", "test-staging"]
    scripts = " ".join(" ".join(job["script"]) for job in (ci["deploy-staging"], ci["test-staging"], ci["deploy-prod"]))
    assert (
        "--stage staging" in scripts
        and "--stage prod" in scripts
        and "python -m pytest test " in scripts
        and "--junitxml build/test-report.xml" in scripts
    )


def test_oidc_token_is_requested(ci):
    assert ci["default"]["id_tokens"] == {"GITLAB_OIDC_TOKEN": {"aud": "sts.amazonaws.com"}}


def run_auth_step(ci, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the default before_script's authentication step in bash and print what it exported."""
    script = ci["default"]["before_script"][0] + '\necho "TOKEN_FILE=${AWS_WEB_IDENTITY_TOKEN_FILE:-}"\n'
    clean = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)}
    return subprocess.run(["bash", "-euc", script], env={**clean, **env}, capture_output=True, text=True, timeout=30)


def test_access_keys_take_precedence(ci, tmp_path):
    result = run_auth_step(
        ci,
        tmp_path,
        AWS_ACCESS_KEY_ID="AKIA",
        AWS_SECRET_ACCESS_KEY="secret",
        GITLAB_OIDC_TOKEN="jwt",
        AWS_ROLE_ARN="arn:aws:iam::1:role/r",
    )
    assert result.returncode == 0 and "access keys" in result.stdout and "TOKEN_FILE=\n" in result.stdout


def test_oidc_writes_the_token_file_for_boto3(ci, tmp_path):
    result = run_auth_step(ci, tmp_path, GITLAB_OIDC_TOKEN="header.payload.sig", AWS_ROLE_ARN="arn:aws:iam::1:role/r")
    assert result.returncode == 0 and "GitLab OIDC, assuming arn:aws:iam::1:role/r" in result.stdout
    token_file = Path(result.stdout.split("TOKEN_FILE=")[1].strip())
    assert token_file.read_text() == "header.payload.sig"


def test_no_credentials_fails_with_instructions(ci, tmp_path):
    result = run_auth_step(ci, tmp_path)
    assert result.returncode == 1 and "set AWS_ROLE_ARN" in result.stderr


def test_requirements_equal_the_platform_pins():
    seed = requirement_pins(SEED / "requirements.txt")
    platform = requirement_pins(REPO / "requirements-dev.txt")
    assert {name: platform.get(name) for name in seed} == seed


def test_requirements_pin_every_dependency():
    """Each pinned package's own dependencies (without extras) are pinned too, so pip resolves nothing."""
    seed = requirement_pins(SEED / "requirements.txt")
    unpinned = set()
    for name in seed:
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is pinned by the seed but not installed in the platform venv")
        for spec in map(Requirement, requires):
            if spec.marker is None or spec.marker.evaluate({"extra": ""}):
                if spec.name.lower().replace("_", "-") not in seed:
                    unpinned.add(f"{spec.name} (needed by {name})")
    assert unpinned == set()
