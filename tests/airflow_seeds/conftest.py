"""The seed repositories' code imports as it does in its own repository (`mlops_ci` from the MLOps root)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MLOPS_SEED = REPO / "seedcode" / "airflow-mlops"
MODEL_SEED = REPO / "seedcode" / "airflow-model"
if str(MLOPS_SEED) not in sys.path:
    sys.path.insert(0, str(MLOPS_SEED))
