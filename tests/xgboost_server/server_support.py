"""Helpers shared by the model server's tests and the model deploy tests: a tiny trained model
directory (the contract's `xgboost-model`) and the real server started as a subprocess on a
loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xgboost

from local_lifecycle.processes import free_port, start_logged, stop, wait_until_answering
from xgboost_container.model_format import save_model

FEATURES = 4


def regression_rows(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features and a label that is a noisy linear function of the first two features."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    label = 10 + 3 * features[:, 0] - 2 * features[:, 1] + rng.normal(0, 0.3, rows)
    return features, label.astype(np.float32)


def make_model_dir(directory: Path, *, rows: int = 300, objective: str = "reg:squarederror") -> Path:
    """Train a small Booster on generated data and save it in the artifact layout; return the directory."""
    features, label = regression_rows(rows)
    params = {"objective": objective, "max_depth": 3, "eta": 0.3, "nthread": 1}
    if objective == "multi:softprob":
        label = (label > np.median(label)).astype(np.float32) + (label > np.quantile(label, 0.8))
        params["num_class"] = 3
    booster = xgboost.train(params, xgboost.DMatrix(features, label), num_boost_round=10)
    save_model(booster, directory, feature_names=[f"f{i}" for i in range(FEATURES)], label="y")
    return directory


class ServerProcess:
    """`xgboost-serve` as a subprocess on 127.0.0.1 (context manager); its output goes to `log_path`.

    Entering returns once every worker has loaded the model and answers `/ping`.
    """

    def __init__(self, model_dir: Path, log_path: Path, *, workers: int = 2, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.command = [
            sys.executable,
            "-m",
            "xgboost_container.serve",
            "--model-dir",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.workers = workers
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.process = start_logged(self.command, env=self.env, log_path=self.log_path)
        wait_until_answering(
            self.process,
            f"{self.url}/ping",
            what="xgboost-serve",
            log_path=self.log_path,
            # Every worker has loaded the model, not only the first to answer.
            ready=lambda: self.log().count("ready: predictor device") >= self.workers,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process:
            stop(self.process)

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""
