"""The fraud model: synthetic card transactions with a known fraud mechanism, training and evaluation.

`transactions` generates the data, `dataset` writes it in the layouts the platform's trainers read,
`training` trains the XGBoost image's own training code on it and evaluates the model on a held-out
split. `python -m fraud_model --help` runs all three.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The transaction schema is Lambda code (`lambdas/fraud_scoring`), imported here as at run time.
_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
