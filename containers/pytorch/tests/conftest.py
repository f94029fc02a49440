"""Fixtures of the PyTorch image's own tests (run in `.venv-pytorch`; see tests/pytorch/ of the platform).

Each test sees a clean environment: no SageMaker variable from the caller's shell, one intra-op thread
(the machine is shared; results are then reproducible), and a training job tree in a temporary directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

SAGEMAKER_VARIABLES = (
    "SM_ML_ROOT",
    "SM_MODEL_DIR",
    "SM_INPUT_DATA_DIR",
    "SM_INPUT_CONFIG_DIR",
    "SM_OUTPUT_DIR",
    "SM_CHECKPOINT_DIR",
    "SM_HOSTS",
    "SM_CURRENT_HOST",
    "SM_CURRENT_INSTANCE_TYPE",
    "NEURON_RT_VISIBLE_CORES",
    "MASTER_PORT",
    "MODEL_ENGINE",
    "MODEL_DEVICE",
    "MODEL_TOP_K",
    "MODEL_MAX_IMAGE_PIXELS",
    "MODEL_MAX_BATCH",
    "MODEL_SERVER_THREADS_PER_WORKER",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SageMaker or model-server variable leaks in from the shell that runs the tests."""
    for name in SAGEMAKER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class TrainingJob:
    """A training job's `/opt/ml` tree in a directory (`SM_ML_ROOT`), with helpers to fill and read it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "input" / "config").mkdir(parents=True, exist_ok=True)
        (root / "input" / "data").mkdir(parents=True, exist_ok=True)

    def hyperparameters(self, values: dict[str, str] | str) -> None:
        """Write `hyperparameters.json` (a dict of strings, or raw text)."""
        text = values if isinstance(values, str) else json.dumps(values)
        (self.root / "input" / "config" / "hyperparameters.json").write_text(text)

    def channel(self, name: str) -> Path:
        """The directory of channel `name` (created)."""
        path = self.root / "input" / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def metrics(self) -> dict:
        return json.loads((self.model / "metrics.json").read_text())

    def run(self, monkeypatch: pytest.MonkeyPatch) -> int:
        """Run the training entrypoint in this process against this job; its exit status."""
        from pytorch_container import train

        monkeypatch.setenv("SM_ML_ROOT", str(self.root))
        return train.main()


@pytest.fixture(scope="session")
def training_job() -> type[TrainingJob]:
    """The `TrainingJob` class, for fixtures that lay out jobs of their own."""
    return TrainingJob


@pytest.fixture
def job(tmp_path: Path) -> TrainingJob:
    """An empty training job (no hyperparameters, no channel: every default, the digits)."""
    return TrainingJob(tmp_path / "job")
