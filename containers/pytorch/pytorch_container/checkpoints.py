"""Per-epoch checkpoints in `/opt/ml/checkpoints`, so that a restarted (spot) training job resumes.

SageMaker copies the checkpoint directory to S3 while the job runs and back into a restarted job's
container. Global rank 0 writes `checkpoint-epoch-NNNN.pt` after each epoch (to a temporary name, then
renamed: a file is complete or absent) and keeps the newest two, so that an interruption while the newest
is being uploaded still leaves a complete one. On start, the newest readable checkpoint is resumed,
provided it was written by a job with the same settings (`Hyperparameters.fingerprint`) and classes.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

from pytorch_container.errors import TrainingError

LOG = logging.getLogger(__name__)
KEEP = 2
_NAME = re.compile(r"^checkpoint-epoch-(\d{4,})\.pt$")


def path_for(directory: Path, epoch: int) -> Path:
    """The file of the checkpoint taken after `epoch` completed epochs."""
    return directory / f"checkpoint-epoch-{epoch:04d}.pt"


def save(directory: Path, epoch: int, state: dict[str, Any]) -> Path:
    """Write the checkpoint after `epoch` completed epochs atomically; drop all but the newest `KEEP`."""
    directory.mkdir(parents=True, exist_ok=True)
    target = path_for(directory, epoch)
    partial = target.with_name(f".{target.name}.partial")
    torch.save({**state, "epoch": epoch}, partial)
    os.replace(partial, target)
    for old in _existing(directory)[KEEP:]:
        old[1].unlink(missing_ok=True)
    return target


def _existing(directory: Path) -> list[tuple[int, Path]]:
    """(epoch, file) of every checkpoint in `directory`, newest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    return sorted(found, reverse=True)


def load_latest(directory: Path, *, fingerprint: dict[str, Any], class_names: list[str]) -> dict[str, Any] | None:
    """The newest readable checkpoint of a job like this one, or None when there is none.

    An unreadable file (a copy cut short) is skipped with a warning; a checkpoint from a job with other
    settings fails the job rather than silently training from scratch over it.
    """
    for epoch, path in _existing(directory):
        try:
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file: fall back to an older one
            LOG.warning("checkpoint %s is unreadable (%s: %s); trying an older one", path, type(error).__name__, error)
            continue
        if state.get("fingerprint") != fingerprint or state.get("class_names") != class_names:
            differences = _differences(state.get("fingerprint"), fingerprint)
            if state.get("class_names") != class_names:
                differences.append(f"class_names {state.get('class_names')} vs {class_names}")
            raise TrainingError(
                f"checkpoint {path} was written by a job with other settings ({'; '.join(differences)}); "
                "give this job its own checkpoint location or empty it"
            )
        if state.get("epoch") != epoch:
            raise TrainingError(f"checkpoint {path} holds epoch {state.get('epoch')!r}, not {epoch}")
        return state
    return None


def _differences(saved: object, current: dict[str, Any]) -> list[str]:
    """Human-readable `name saved vs current` for each setting that differs."""
    if not isinstance(saved, dict):
        return [f"no settings recorded, found {type(saved).__name__}"]
    names = sorted(set(saved) | set(current))
    return [
        f"{name} {saved.get(name)!r} vs {current.get(name)!r}" for name in names if saved.get(name) != current.get(name)
    ]
