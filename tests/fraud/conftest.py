"""Fixtures of the fraud detection tests: a small trained model, its real model server, the emulator.

The model is trained once per session on a small population (the XGBoost image's training code);
`xgboost-serve` serves it; each test gets a fresh emulator state with the three architectures'
resources, the workflows built from the stacks' own definitions.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fraud_test_support import ENDPOINT, SCORING, THRESHOLDS, FraudWorld, TrainedModel

import fraud_model  # noqa: F401  (puts lambdas/ on sys.path)
from fraud_model.training import train_model
from fraud_model.transactions import GeneratorSettings, generate, to_events
from local_lifecycle.emulator import Emulator
from local_lifecycle.fraud_emulator import ScoringBridge
from local_lifecycle.fraud_resources import create_resources
from local_lifecycle.model_endpoint import start_model_server
from local_lifecycle.processes import stop

for _name in ("werkzeug", "moto"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A model trained on a small population (about 10,000 payments)."""
    table = generate(GeneratorSettings(cards=400, days=14, seed=21))
    model_dir, splits = train_model(table, tmp_path_factory.mktemp("fraud-training"))
    return TrainedModel(model_dir, table, splits)


@pytest.fixture(scope="session")
def model_url(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The XGBoost image's model server serving the session's model, as the endpoint."""
    server, port = start_model_server(trained.model_dir, log_path=tmp_path_factory.mktemp("serve") / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """moto, executing state machines, for the whole session (each test resets it)."""
    with Emulator(execute_state_machines=True) as running:
        yield running


@pytest.fixture
def world(emulator: Emulator, model_url: str) -> Iterator[FraudWorld]:
    """Reset the emulator, create the resources, bridge the endpoint to the model server."""
    for path, body in (
        ("/moto-api/reset", {}),
        ("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}}),
    ):
        request = urllib.request.Request(f"{emulator.url}{path}", data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(request, timeout=10).close()
    with ScoringBridge({ENDPOINT: model_url}) as bridge:
        resources = create_resources(emulator, endpoint_name=ENDPOINT, thresholds=THRESHOLDS, retry=SCORING)
        yield FraudWorld(emulator, resources, bridge)


@pytest.fixture(scope="session")
def replay_events() -> list[dict[str, Any]]:
    """Transactions of a population the model never saw, with every fraud kept (about 150 of 1,500)."""
    table = generate(GeneratorSettings(cards=150, days=10, seed=33))
    fraud = table[table["is_fraud"] == 1]
    legit = table[table["is_fraud"] == 0].sample(n=150, random_state=0)
    return to_events(pd.concat([fraud, legit]).sample(frac=1, random_state=0))
