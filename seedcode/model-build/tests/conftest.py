"""Shared fixtures: small generated Abalone-like data sets and the pipeline configuration."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = REPO_ROOT / "pipelines" / "abalone" / "config.json"


def abalone_rows(count: int, seed: int = 0) -> list[str]:
    """`count` CSV lines in the Abalone layout (sex, 7 measurements, rings), rings tied to the weights."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F", "I"], count)
    length = rng.uniform(0.1, 0.8, count)
    diameter = 0.8 * length + rng.normal(0, 0.02, count)
    height = 0.3 * length + rng.normal(0, 0.01, count)
    whole = 4.0 * length**3 + rng.normal(0, 0.02, count)
    shucked, viscera, shell = 0.45 * whole, 0.2 * whole, 0.3 * whole
    rings = np.clip(np.round(3 + 25 * shell + (sex == "I") * -2 + rng.normal(0, 1, count)), 1, 29).astype(int)
    return [
        f"{s},{ln:.3f},{d:.3f},{h:.3f},{w:.4f},{sh:.4f},{v:.4f},{se:.4f},{r}"
        for s, ln, d, h, w, sh, v, se, r in zip(
            sex, length, diameter, height, whole, shucked, viscera, shell, rings, strict=True
        )
    ]


@pytest.fixture
def make_rows():
    """The generator of Abalone-like CSV lines, `make_rows(count, seed=0)`."""
    return abalone_rows


@pytest.fixture
def pipeline_config() -> dict:
    """The repository's pipeline configuration, as a dictionary to modify."""
    return json.loads(CONFIG_PATH.read_text())


@pytest.fixture
def processing_root(tmp_path: Path, pipeline_config: dict):
    """A function laying out `$SM_ML_ROOT/processing/input/{data,config}` for the preprocess step."""

    def make(lines: list[str], config: dict | None = None, file_name: str = "abalone.csv") -> Path:
        data_dir = tmp_path / "processing" / "input" / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / file_name).write_text("\n".join(lines) + ("\n" if lines else ""))
        config_dir = tmp_path / "processing" / "input" / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "config.json").write_text(json.dumps(config or pipeline_config))
        return tmp_path

    return make
