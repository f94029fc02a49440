"""The model build seed repository as it is pushed to GitLab: its own tests, pins, CI file and README."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tooling.gitlab_ci_schema import gitlab_ci_errors
from tooling.requirement_pins import read_pins as pins

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "seedcode" / "model-build"


@pytest.fixture(scope="module")
def ci() -> dict:
    return yaml.safe_load((SEED / ".gitlab-ci.yml").read_text())


@pytest.mark.parametrize("test_file", sorted(path.name for path in (SEED / "tests").glob("test_*.py")))
def test_the_seed_repository_tests_pass(test_file):
    """Runs the seed repository's tests with `python -m pytest` from its root, as its GitLab `unit-tests`
    job does (one module per test, so that the platform's workers share them)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PIPELINE_EXECUTION_MODE", "RUN_SUMMARY_PATH", "XGBOOST_"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{test_file}"],
        cwd=SEED,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_requirements_pins_equal_the_platform_pins():
    """`pip install -r requirements.txt` is a no-op in the platform venv (gitlab-ci-local shell executor)."""
    seed, platform = pins(SEED / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    assert {"sagemaker", "boto3", "pandas", "numpy", "scikit-learn", "xgboost-cpu", "pytest", "moto"} <= set(seed)
    different = {name: (version, platform.get(name)) for name, version in seed.items() if platform.get(name) != version}
    assert different == {}


def test_requirements_pin_every_transitive_dependency():
    seed = pins(SEED / "requirements.txt")
    unpinned = set()
    for name in seed:
        for requirement in map(Requirement, distribution(name).requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                if canonicalize_name(requirement.name) not in seed:
                    unpinned.add(f"{name} -> {requirement.name}")
    assert unpinned == set()


def test_gitlab_ci_file_is_valid_against_gitlab_s_schema():
    assert gitlab_ci_errors(SEED / ".gitlab-ci.yml") == ""


def test_gitlab_s_schema_would_notice_a_mistake(ci, tmp_path):
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(yaml.safe_dump({**ci, "training": {**ci["training"], "stage": 7}}))
    assert gitlab_ci_errors(broken) != ""


def test_training_job_starts_the_pipeline_on_every_commit(ci):
    assert ci["stages"] == ["test", "training"]
    assert ci["default"]["image"] == "python:3.12-slim"
    training = ci["training"]
    assert training["stage"] == "training"
    assert not {"rules", "only", "except", "when"} & set(training)  # runs on every commit
    assert training["script"] == ["python -m pipelines.run_pipeline --wait"]
    assert "pip install -r requirements.txt" in training["before_script"]
    assert training["id_tokens"] == {"GITLAB_OIDC_TOKEN": {"aud": "sts.amazonaws.com"}}
    assert ci["unit-tests"]["script"] == ["pip install -r requirements.txt", "python -m pytest -q -n auto tests"]


def run_auth(ci: dict, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """The training job's authentication step in bash; prints the AWS variables it leaves."""
    script = ci["training"]["before_script"][0]
    check = (
        'echo "file=${AWS_WEB_IDENTITY_TOKEN_FILE:-} session=${AWS_ROLE_SESSION_NAME:-}"; '
        '[ -n "${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ] && echo "token=$(cat "$AWS_WEB_IDENTITY_TOKEN_FILE")"; true'
    )
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path), **variables}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"{script}\n{check}"], env=env, capture_output=True, text=True, timeout=10
    )


def test_oidc_token_is_written_for_boto3_to_assume_the_role(ci, tmp_path):
    result = run_auth(
        ci,
        tmp_path,
        GITLAB_OIDC_TOKEN="eyJ.token",
        AWS_ROLE_ARN="arn:aws:iam::1:role/ci",
        CI_PROJECT_ID="42",
        CI_PIPELINE_ID="7",
    )
    assert result.returncode == 0, result.stderr
    assert "AWS authentication: GitLab OIDC, assuming arn:aws:iam::1:role/ci" in result.stdout
    assert f"file={tmp_path}/" in result.stdout and "session=gitlab-42-7" in result.stdout
    assert "token=eyJ.token" in result.stdout


def test_access_keys_take_precedence_over_oidc(ci, tmp_path):
    result = run_auth(
        ci,
        tmp_path,
        AWS_ACCESS_KEY_ID="AKIA",
        AWS_SECRET_ACCESS_KEY="secret",
        GITLAB_OIDC_TOKEN="eyJ.token",
        AWS_ROLE_ARN="arn:aws:iam::1:role/ci",
    )
    assert result.returncode == 0
    assert "access keys from the masked CI/CD variables" in result.stdout and "file= " in result.stdout


def test_missing_credentials_fail_the_job_with_a_message(ci, tmp_path):
    result = run_auth(ci, tmp_path, GITLAB_OIDC_TOKEN="eyJ.token")
    assert result.returncode == 1
    assert (
        "No AWS credentials: set AWS_ROLE_ARN (GitLab OIDC) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        in result.stderr
    )


def test_readme_documents_every_configuration_setting():
    readme = (SEED / "README.md").read_text()
    config = json.loads((SEED / "pipelines" / "abalone" / "config.json").read_text())
    range_keys = {key for spec in config["tuning"]["ranges"].values() for key in spec}
    for key in [*config, *config["dataset"], *config["quality_gate"], *config["tuning"], *range_keys, "classes"]:
        assert f"`{key}`" in readme, f"README.md does not document the setting {key!r}"
    for problem_type in ("regression", "binary_classification", "multiclass_classification"):
        assert f'"problem_type": "{problem_type}"' in readme, f"README.md has no {problem_type} example"
    for variable in (
        "XGBOOST_IMAGE_URI",
        "XGBOOST_GPU_IMAGE_URI",
        "PIPELINE_EXECUTION_MODE",
        "AWS_ENDPOINT_URL",
        "RUN_SUMMARY_PATH",
        "SAGEMAKER_PIPELINE_ROLE_ARN",
        "AWS_ACCESS_KEY_ID",
    ):
        assert variable in readme
