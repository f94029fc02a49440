"""Helpers shared by the fraud detection tests (imported by name: this directory has no package)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import fraud_model  # noqa: F401  (puts lambdas/ on sys.path)
from fraud_scoring.scoring import Thresholds
from local_lifecycle.emulator import Emulator
from local_lifecycle.fraud_emulator import ScoringBridge
from local_lifecycle.fraud_resources import FraudResources
from stacks.components.fraud.decision_states import RetryPolicy

ENDPOINT = "fraud-test-endpoint"
THRESHOLDS = Thresholds(investigate=0.15, block=0.6)
# One retry after a second keeps the fault-injection tests fast; 3 s per endpoint call leaves room
# for a loaded machine (the slow-endpoint test answers after 4 s).
SCORING = RetryPolicy(timeout_seconds=3, max_attempts=1, interval_seconds=1, backoff_rate=1.0)


@dataclass(frozen=True)
class TrainedModel:
    """The session's model and the data it was trained and evaluated on."""

    model_dir: Path
    table: pd.DataFrame
    splits: dict[str, pd.DataFrame]


@dataclass
class FraudWorld:
    """A fresh emulator state with the three architectures and the bridge to the model server."""

    emulator: Emulator
    resources: FraudResources
    bridge: ScoringBridge


def payloads(details: list[dict[str, Any]]) -> list[bytes]:
    """Transactions as stream records."""
    return [json.dumps(detail).encode() for detail in details]
