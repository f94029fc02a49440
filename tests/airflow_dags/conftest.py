"""The DAGs' helper package imports as MWAA imports it: from the DAG folder (no Airflow needed for these)."""

from __future__ import annotations

import sys
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[2] / "stacks" / "components" / "mwaa_dags"
if str(DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(DAGS_DIR))
