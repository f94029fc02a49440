"""The Airflow side of the offline runs: the pinned Airflow venv and a workspace to run the DAGs in.

A workspace is what MWAA has: a dags/ folder (the DAG files as shipped, plus `mlops_platform.json`)
and an Airflow metadata database (SQLite here). DAGs run with `dag.test()` in a child process of
the Airflow venv's Python, pointed at the AWS emulator by environment variables.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.components.mwaa_dag_files import DAGS_DIR, PLATFORM_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_VENV = REPO_ROOT / ".venv-airflow"
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup-airflow.sh"
RUNNER = Path(__file__).resolve().parent / "run_dag.py"


class AirflowRunFailed(RuntimeError):
    """The Airflow child process could not load or run the DAGs; the message ends with its log tail."""


def ensure_airflow_venv() -> Path:
    """Install the pinned Airflow venv on first use (idempotent); return its Python."""
    result = subprocess.run([str(SETUP_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AirflowRunFailed(f"{SETUP_SCRIPT.name} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return AIRFLOW_VENV / "bin" / "python"


@dataclass(frozen=True)
class DagRunResult:
    """Outcome of one `dag.test()`."""

    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, str]
    log: Path

    def failed_tasks(self) -> list[str]:
        """Task IDs that ended `failed`."""
        return sorted(task for task, state in self.tasks.items() if state == "failed")


@dataclass
class AirflowWorkspace:
    """dags/ + AIRFLOW_HOME under `root`; `aws_env` points boto3 at the emulator."""

    root: Path
    aws_env: dict[str, str]
    python: Path = field(default_factory=ensure_airflow_venv)

    @property
    def dags(self) -> Path:
        """The DAG folder, as MWAA's dags/."""
        return self.root / "dags"

    @property
    def home(self) -> Path:
        """AIRFLOW_HOME."""
        return self.root / "airflow-home"

    def prepare(self, platform_document: dict[str, Any]) -> AirflowWorkspace:
        """Copy the DAGs as shipped, write the platform file, create the metadata database."""
        shutil.rmtree(self.dags, ignore_errors=True)
        shutil.copytree(DAGS_DIR, self.dags, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (self.dags / PLATFORM_FILE).write_text(json.dumps(platform_document, indent=2))
        self.home.mkdir(parents=True, exist_ok=True)
        airflow = self.python.with_name("airflow")
        self._run([str(airflow), "db", "migrate"], log=self.root / "logs" / "db-migrate.log")
        return self

    def environment(self) -> dict[str, str]:
        """What the Airflow child process runs with (nothing of the caller's environment but PATH)."""
        return {
            "PATH": f"{self.python.parent}:/usr/bin:/bin",
            "HOME": str(self.root),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # The emulator completes jobs at once: poll every second rather than every minute.
            "AIRFLOW__MLOPS__JOB_POLL_SECONDS": "1",
            "PYTHONPATH": str(self.dags),  # MWAA puts dags/ on the import path
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.aws_env,
        }

    def load(self) -> dict[str, Any]:
        """Load the DAG folder in a DagBag: `import_errors` and `dags` ({dag: {task: has failure callback}})."""
        return self._runner([], log_name="dagbag")

    def test(self, dag_id: str, conf: dict[str, Any], *, log_name: str) -> DagRunResult:
        """`dag.test(run_conf=conf)` of one DAG against the emulator."""
        result = self._runner(["--dag", dag_id, "--conf", json.dumps(conf)], log_name=log_name)
        return DagRunResult(dag_id, result["run_id"], result["state"], result["tasks"], self._log(log_name))

    def _log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _runner(self, arguments: list[str], *, log_name: str) -> dict[str, Any]:
        result_file = self.root / "logs" / f"{log_name}.json"
        command = [str(self.python), str(RUNNER), "--dags", str(self.dags), "--result", str(result_file), *arguments]
        self._run(command, log=self._log(log_name), allow_exit={2})
        result: dict[str, Any] = json.loads(result_file.read_text())
        if result.get("error"):
            raise AirflowRunFailed(str(result["error"]))
        return result

    def _run(self, command: list[str], *, log: Path, allow_exit: frozenset[int] | set[int] = frozenset()) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as handle:
            completed = subprocess.run(
                command, stdout=handle, stderr=subprocess.STDOUT, env=self.environment(), timeout=600, check=False
            )
        if completed.returncode != 0 and completed.returncode not in allow_exit:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise AirflowRunFailed(
                f"{Path(command[1] if len(command) > 1 else command[0]).name} exited "
                f"{completed.returncode}; log {log}:\n{tail}"
            )
