"""GitLab CI, locally: a repository's `.gitlab-ci.yml` jobs under gitlab-ci-local's shell executor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from local_lifecycle.processes import log_tail
from local_lifecycle.steps import StepFailed

REPO_ROOT = Path(__file__).resolve().parents[1]
GITLAB_CI_LOCAL = REPO_ROOT / "node_modules" / ".bin" / "gitlab-ci-local"


def run_jobs(repo: Path, jobs: list[str], *, variables: dict[str, str], log_path: Path) -> None:
    """Run `jobs` (all of them when empty) of `repo`'s pipeline; raise `StepFailed` with the log tail.

    Jobs inherit this process's PATH with the project's venv first, so they use the pinned Python
    (gitlab-ci-local's shell executor runs jobs on this machine, as a shell runner would).
    """
    command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", *jobs]
    for key, value in variables.items():
        command += ["--variable", f"{key}={value}"]
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        **variables,
        "PATH": os.pathsep.join([str(venv_bin), str(GITLAB_CI_LOCAL.parent), os.environ.get("PATH", "")]),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        result = subprocess.run(command, cwd=repo, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        raise StepFailed(
            f"gitlab-ci-local {' '.join(jobs) or '(whole pipeline)'} exited {result.returncode}; log: {log_path}",
            log_tail=log_tail(log_path),
        )
