"""Fixtures of the model server tests: one trained model directory and one running server per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from xgboost_container.server_model import DeviceChoice, Model, load

from .server_support import ServerProcess, make_model_dir


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding a small regression Booster with 4 features."""
    return make_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def model(model_dir: Path) -> Model:
    """The model directory loaded for in-process prediction on the CPU."""
    loaded = load(model_dir, DeviceChoice("cpu", "tests"))
    loaded.activate(threads=1)
    return loaded


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """The real server (2 workers) on a loopback port, with a small body limit to test 413."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with ServerProcess(model_dir, log_path, env={"MODEL_SERVER_MAX_BODY_BYTES": "100000"}) as running:
        yield running
