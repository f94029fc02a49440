"""Runs inside the Airflow virtualenv (.venv-airflow): load the DAG folder, optionally test one DAG.

    python local_airflow/run_dag.py --dags DIR --result FILE [--dag ID --conf JSON]

Writes JSON to FILE: `import_errors` and the loaded `dags` (with their tasks and whether each task
has a failure callback); with --dag, also the run's `run_id`, `state` and the `tasks`' states after
`dag.test(run_conf=...)`. It imports nothing of the platform: it runs in Airflow's own venv, with
the DAG folder on the import path as MWAA puts it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--dag", default="")
    parser.add_argument("--conf", default="{}")
    args = parser.parse_args(argv)

    from airflow.models import DagBag

    bag = DagBag(str(args.dags))
    result: dict[str, Any] = {
        "import_errors": {str(path): str(error) for path, error in bag.import_errors.items()},
        "dags": {
            dag_id: {task.task_id: bool(task.on_failure_callback) for task in dag.tasks}
            for dag_id, dag in sorted(bag.dags.items())
        },
    }
    if args.dag and not result["import_errors"]:
        dag = bag.get_dag(args.dag)
        if dag is None:
            result["error"] = f"DAG {args.dag} not found in {args.dags}"
        else:
            run = dag.test(run_conf=json.loads(args.conf))
            result.update(
                run_id=run.run_id,
                state=str(run.state),
                tasks={ti.task_id: str(ti.state) for ti in run.get_task_instances()},
            )
    args.result.write_text(json.dumps(result, indent=2))
    return 0 if not result["import_errors"] and "error" not in result else 2


if __name__ == "__main__":
    sys.exit(main())
