"""The two seed repositories' pipelines under gitlab-ci-local, and the multi-project hand-over between them.

gitlab-ci-local runs jobs with the shell executor (images and services are not used) and treats a
`trigger:` job as a no-op ("Multi-project pipeline is not supported"). `downstream_variables` does
what GitLab does at that point, from the trigger job's own definition: it expands the job's
`variables` with the upstream pipeline's values (predefined ones and the `needs` job's dotenv
report); the downstream pipeline then runs with those variables and source `pipeline`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
GITLAB_CI_LOCAL = REPO_ROOT / "node_modules" / ".bin" / "gitlab-ci-local"
SEEDCODE = REPO_ROOT / "seedcode"


class PipelineFailed(RuntimeError):
    """gitlab-ci-local reported a failed job; the message ends with its output's tail."""


@dataclass(frozen=True)
class LocalRepository:
    """A seed repository checked out in a local git repository (what the check-in would push)."""

    path: Path

    @classmethod
    def from_seed(cls, seed: str, destination: Path) -> LocalRepository:
        """Copy `seedcode/<seed>` (links followed, as the check-in pushes files) and commit it."""
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(
            SEEDCODE / seed,
            destination,
            symlinks=False,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "build", ".gitlab-ci-local"),
        )
        repository = cls(destination)
        repository.commit(f"Seed code of the {seed} repository")
        return repository

    def commit(self, message: str) -> None:
        """Commit everything (git init on first use)."""
        git = ["git", "-C", str(self.path), "-c", "user.email=ci@localhost", "-c", "user.name=local"]
        if not (self.path / ".git").is_dir():
            subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
            (self.path / ".git" / "info" / "exclude").write_text(".gitlab-ci-local/\nbuild/\nmodel-source/\n")
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)

    def ci(self) -> dict[str, Any]:
        """The parsed .gitlab-ci.yml."""
        document: dict[str, Any] = yaml.safe_load((self.path / ".gitlab-ci.yml").read_text())
        return document


def run_pipeline(
    repository: LocalRepository,
    *,
    variables: dict[str, str],
    jobs: list[str] | None = None,
    path_prefix: list[Path] | None = None,
    log: Path,
) -> str:
    """Run the pipeline (or `jobs`) with the shell executor; return its output; PipelineFailed on a failed job."""
    # The pipeline's source and ID stand for GitLab's (a trigger, a schedule; one ID per pipeline).
    command = [
        str(GITLAB_CI_LOCAL),
        "--force-shell-executor",
        "--ignore-predefined-vars",
        "CI_PIPELINE_SOURCE,CI_PIPELINE_ID",
    ]
    for job in jobs or []:
        command.append(job)
    for key, value in variables.items():
        command += ["--variable", f"{key}={value}"]
    venv_bin = Path(sys.executable).parent
    path = os.pathsep.join([*(str(p) for p in path_prefix or []), str(venv_bin), os.environ.get("PATH", "")])
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CI_", "GITLAB_"))}
    env.update({"PATH": path, "PYTHONDONTWRITEBYTECODE": "1"})
    log.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        command, cwd=repository.path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    log.write_text(output)
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-25:])
        raise PipelineFailed(
            f"gitlab-ci-local {' '.join(jobs or ['(pipeline)'])} exited {result.returncode}; log {log}:\n{tail}"
        )
    return output


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv report."""
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _expand(value: str, known: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: known.get(m.group(1), ""), value)


@dataclass(frozen=True)
class Trigger:
    """What GitLab would start downstream: project, branch, strategy and the variables passed."""

    project: str
    branch: str
    strategy: str
    variables: dict[str, str]


def downstream_trigger(repository: LocalRepository, job: str, *, upstream: dict[str, str]) -> Trigger:
    """The multi-project trigger job `job`, its values expanded with the upstream pipeline's variables."""
    definition = repository.ci()[job]
    trigger = definition["trigger"]
    return Trigger(
        project=_expand(str(trigger["project"]), upstream),
        branch=_expand(str(trigger.get("branch", "")), upstream),
        strategy=str(trigger.get("strategy", "")),
        variables={key: _expand(str(value), upstream) for key, value in definition.get("variables", {}).items()},
    )
