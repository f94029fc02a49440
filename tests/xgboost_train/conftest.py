"""Fixtures laying out a SageMaker training job's `/opt/ml` tree in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SEED_HYPERPARAMETERS = {
    "objective": "reg:squarederror",
    "num_round": "50",
    "max_depth": "5",
    "eta": "0.2",
    "gamma": "4",
    "min_child_weight": "6",
    "subsample": "0.7",
}


def regression_data(rows: int, features: int = 4, seed: int = 0) -> np.ndarray:
    """Label first, then features; the label is a noisy linear function of the first two features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    y = 10 + 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.3, rows)
    return np.column_stack([y, x])


class TrainingJob:
    """A training job directory (`SM_ML_ROOT`) and helpers to fill it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "input" / "config"
        self.data = root / "input" / "data"
        self.config.mkdir(parents=True)
        self.data.mkdir(parents=True)

    def hyperparameters(self, values: dict | str) -> None:
        text = values if isinstance(values, str) else json.dumps(values)
        (self.config / "hyperparameters.json").write_text(text)

    def channel(self, name: str, content: np.ndarray | str, file_name: str = "part-0.csv") -> Path:
        directory = self.data / name
        directory.mkdir(exist_ok=True)
        path = directory / file_name
        if isinstance(content, str):
            path.write_text(content)
        else:
            np.savetxt(path, content, delimiter=",", fmt="%.6f")
        return path

    def features(self, names: list[str], label: str = "y") -> None:
        directory = self.data / "features"
        directory.mkdir(exist_ok=True)
        (directory / "features.json").write_text(json.dumps({"feature_names": names, "label": label}))

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def model(self) -> Path:
        return self.root / "model"


@pytest.fixture
def job(tmp_path: Path, monkeypatch) -> TrainingJob:
    """A valid job (seed hyperparameters, train + validation channels) with `SM_ML_ROOT` set."""
    monkeypatch.setenv("SM_ML_ROOT", str(tmp_path))
    for name in ("SM_MODEL_DIR", "SM_INPUT_DATA_DIR", "SM_INPUT_CONFIG_DIR", "SM_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    training_job = TrainingJob(tmp_path)
    training_job.hyperparameters(SEED_HYPERPARAMETERS)
    training_job.channel("train", regression_data(300))
    training_job.channel("validation", regression_data(60, seed=1))
    return training_job
