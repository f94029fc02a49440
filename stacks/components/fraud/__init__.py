"""Constructs of the real-time fraud detection stacks, and their state machine definitions.

The `*_definition` modules are plain functions returning Amazon States Language (no CDK import), so
the constructs ship them and the offline run (`make fraud-demo`) and the tests execute the very
same definitions on the emulator.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The transaction schema and decisions are Lambda code (`lambdas/fraud_scoring`); the definitions
# are generated from it, so it is imported here as the Lambdas import it.
_LAMBDAS = str(Path(__file__).resolve().parents[3] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
