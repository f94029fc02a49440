"""Helpers shared by the model server's tests and the model deploy tests: a tiny trained model
directory (the contract's `xgboost-model`) and the real server started as a subprocess on a
loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import xgboost

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


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                    if response.status == 200 and self.log().count("ready: predictor device") >= self.workers:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"server not ready after 30 s:\n{self.log()}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""
