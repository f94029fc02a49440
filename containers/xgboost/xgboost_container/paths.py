"""The SageMaker container contract's filesystem layout, each path overridable by environment.

Inside the image every path is the documented `/opt/ml/...` location. Outside Docker (tests, the
local lifecycle run) the same code runs with `SM_ML_ROOT` (or a per-path variable) pointing at a
plain directory.
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
    hyperparameters: Path
    input_config: Path
    input_data: Path
    model: Path
    output: Path
    failure: Path
    checkpoints: Path  # SageMaker creates it (and keeps it in S3) when the job has a CheckpointConfig

    def channel(self, name: str) -> Path:
        """Directory of an input data channel (`/opt/ml/input/data/<name>`)."""
        return self.input_data / name


def resolve(environ: Mapping[str, str] | None = None) -> ContainerPaths:
    """Resolve the layout from the environment (`os.environ` by default).

    `SM_ML_ROOT` moves the whole tree; `SM_MODEL_DIR`, `SM_INPUT_DATA_DIR`, `SM_INPUT_CONFIG_DIR`
    and `SM_OUTPUT_DIR` move one part each (the names SageMaker's own containers use);
    `SM_CHECKPOINT_DIR` moves `checkpoints/`.
    """
    env = os.environ if environ is None else environ
    root = Path(env.get("SM_ML_ROOT", "/opt/ml"))
    input_config = Path(env.get("SM_INPUT_CONFIG_DIR", root / "input" / "config"))
    output = Path(env.get("SM_OUTPUT_DIR", root / "output"))
    return ContainerPaths(
        root=root,
        hyperparameters=input_config / "hyperparameters.json",
        input_config=input_config,
        input_data=Path(env.get("SM_INPUT_DATA_DIR", root / "input" / "data")),
        model=Path(env.get("SM_MODEL_DIR", root / "model")),
        output=output,
        failure=output / "failure",
        checkpoints=Path(env.get("SM_CHECKPOINT_DIR", root / "checkpoints")),
    )
