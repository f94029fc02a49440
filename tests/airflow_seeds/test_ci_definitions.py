"""Both .gitlab-ci.yml files: GitLab's CI schema, the multi-project hand-over and the MLOps pipeline's rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tooling.requirement_pins import read_pins

from .conftest import MLOPS_SEED, MODEL_SEED, REPO

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def ci(seed: Path) -> dict:
    return yaml.safe_load((seed / ".gitlab-ci.yml").read_text())


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_both_files_are_valid_against_gitlabs_schema() -> None:
    for seed in (MODEL_SEED, MLOPS_SEED):
        result = check(seed / ".gitlab-ci.yml")
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_would_notice_a_mistake(tmp_path: Path) -> None:
    broken = ci(MODEL_SEED)
    broken["mlops"]["trigger"]["strategy"] = "wait"
    (tmp_path / ".gitlab-ci.yml").write_text(yaml.safe_dump(broken))
    assert check(tmp_path / ".gitlab-ci.yml").returncode != 0


def test_model_pipeline_triggers_the_mlops_pipeline_and_waits_for_it() -> None:
    job = ci(MODEL_SEED)["mlops"]
    assert job["trigger"] == {"project": "$MLOPS_PROJECT_PATH", "branch": "main", "strategy": "depend"}
    assert job["needs"] == ["package"]
    assert job["variables"] == {
        "UPSTREAM_PROJECT_ID": "$CI_PROJECT_ID",
        "UPSTREAM_PROJECT_PATH": "$CI_PROJECT_PATH",
        "UPSTREAM_JOB_ID": "$PACKAGE_JOB_ID",
        "UPSTREAM_COMMIT_SHA": "$CI_COMMIT_SHA",
        "UPSTREAM_PIPELINE_URL": "$CI_PIPELINE_URL",
        "UPSTREAM_MODEL_NAME": "$MODEL_NAME",
    }
    assert ci(MODEL_SEED)["package"]["artifacts"]["reports"]["dotenv"] == "build/package.env"


def test_no_token_travels_between_the_pipelines() -> None:
    for seed in (MODEL_SEED, MLOPS_SEED):
        text = (seed / ".gitlab-ci.yml").read_text()
        assert "PRIVATE-TOKEN" not in text and "ACCESS_TOKEN" not in text
    assert "job token allowlist" in (MODEL_SEED / ".gitlab-ci.yml").read_text()


def test_mlops_pipeline_jobs_and_when_they_run() -> None:
    definition = ci(MLOPS_SEED)
    sources = [rule["if"] for rule in definition["workflow"]["rules"]]
    assert any('"pipeline"' in rule for rule in sources) and any('"schedule"' in rule for rule in sources)
    assert definition["build-image"]["tags"] == ["docker"]
    assert definition["build-image"]["needs"] == ["fetch-model", "pylint", "version"]
    assert definition["version"]["artifacts"]["reports"]["dotenv"] == "build/version.env"
    assert [rule["if"] for rule in definition["retrain"]["rules"]] == ['$CI_PIPELINE_SOURCE == "schedule"']
    approve = definition["approve-and-deploy"]
    assert all(rule["when"] == "manual" and rule["allow_failure"] is True for rule in approve["rules"])
    assert definition["default"]["id_tokens"] == {"GITLAB_OIDC_TOKEN": {"aud": "sts.amazonaws.com"}}
    assert "pylint" in " ".join(definition["pylint"]["script"])


@pytest.mark.parametrize("seed", [MODEL_SEED, MLOPS_SEED])
def test_requirements_equal_the_platform_pins(seed: Path) -> None:
    pins = read_pins(seed / "requirements.txt")
    platform = read_pins(REPO / "requirements-dev.txt")
    assert {name: platform.get(name) for name in pins} == pins


def test_the_mlops_repository_uses_the_platforms_versioning_module() -> None:
    shared = REPO / "stacks" / "components" / "mwaa_dags" / "mlops_airflow" / "versioning.py"
    assert (MLOPS_SEED / "mlops_ci" / "semantic_versions.py").read_bytes() == shared.read_bytes()
    assert (MODEL_SEED / "model" / "evaluate.py").read_bytes() == (
        REPO / "seedcode" / "model-build" / "pipelines" / "abalone" / "evaluate.py"
    ).read_bytes()
