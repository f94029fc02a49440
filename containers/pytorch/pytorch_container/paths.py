"""The SageMaker training container contract's filesystem layout, each path overridable by environment.

Inside the image every path is the documented `/opt/ml/...` location. Outside Docker (tests, the local
run of the model build) the same code runs with `SM_ML_ROOT` (or a per-path variable) pointing at a plain
directory. The names are those SageMaker's own containers use; `SM_CHECKPOINT_DIR` moves the local side of
the job's `CheckpointConfig` (`/opt/ml/checkpoints` unless the job sets another `LocalPath`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ContainerPaths:
    """Resolved `/opt/ml` layout for one process."""

    root: Path
    input_config: Path
    input_data: Path
    model: Path
    output: Path
    checkpoints: Path

    @property
    def hyperparameters(self) -> Path:
        """`input/config/hyperparameters.json`: every value a string."""
        return self.input_config / "hyperparameters.json"

    @property
    def resource_config(self) -> Path:
        """`input/config/resourceconfig.json`: the job's hosts, this host and its network interface."""
        return self.input_config / "resourceconfig.json"

    @property
    def input_data_config(self) -> Path:
        """`input/config/inputdataconfig.json`: the channels the job was given."""
        return self.input_config / "inputdataconfig.json"

    @property
    def failure(self) -> Path:
        """`output/failure`: the reason SageMaker shows as the job's FailureReason."""
        return self.output / "failure"

    def channel(self, name: str) -> Path:
        """Directory of an input data channel (`input/data/<name>`)."""
        return self.input_data / name


def resolve(environ: Mapping[str, str] | None = None) -> ContainerPaths:
    """Resolve the layout from the environment (`os.environ` by default).

    `SM_ML_ROOT` moves the whole tree; `SM_MODEL_DIR`, `SM_INPUT_DATA_DIR`, `SM_INPUT_CONFIG_DIR`,
    `SM_OUTPUT_DIR` and `SM_CHECKPOINT_DIR` move one part each.
    """
    env = os.environ if environ is None else environ
    root = Path(env.get("SM_ML_ROOT", "/opt/ml"))
    return ContainerPaths(
        root=root,
        input_config=Path(env.get("SM_INPUT_CONFIG_DIR", root / "input" / "config")),
        input_data=Path(env.get("SM_INPUT_DATA_DIR", root / "input" / "data")),
        model=Path(env.get("SM_MODEL_DIR", root / "model")),
        output=Path(env.get("SM_OUTPUT_DIR", root / "output")),
        checkpoints=Path(env.get("SM_CHECKPOINT_DIR", root / "checkpoints")),
    )
