"""The training job's hyperparameters: strings in `hyperparameters.json`, typed and checked here.

SageMaker writes every hyperparameter value as a string. Keys starting with `_` or `sagemaker_` (set by
the SDK and by hyperparameter tuning) are ignored; any other unknown key fails the job, so a typo does
not train with a silent default.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pytorch_container.errors import TrainingError

ARCHITECTURES = ("cnn", "resnet18")
COLOR_MODES = ("grayscale", "rgb")
DEVICES = ("auto", "cpu", "cuda", "xla")
MIXED_PRECISION = ("auto", "off", "bf16", "fp16")
AUTO = "auto"


@dataclass(frozen=True)
class Hyperparameters:
    """Typed hyperparameters with their defaults (see the image's README for each one)."""

    epochs: int = 12
    batch_size: int = 64  # global: split across every process of every host
    learning_rate: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    arch: str = "cnn"
    image_size: int = 0  # 0: the data set's default (8 for the digits, 28 for an image folder)
    color_mode: str = "grayscale"
    seed: int = 0
    device: str = AUTO
    processes_per_host: int = 0  # 0: one per CUDA device, one on CPU
    mixed_precision: str = AUTO
    data_workers: int = -1  # -1: 0 on CPU, 4 per process on CUDA
    max_shift_pixels: int = -1  # augmentation: random translation; -1: image_size // 8 (at least 1), 0: none
    calibration_images: int = 256  # training images that calibrate the int8 model

    def fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed: every setting that shapes the training run.

        The device, the process count, mixed precision and the loader's workers may change between a
        spot job's attempts (another instance type); the rest may not.
        """
        volatile = {"device", "processes_per_host", "mixed_precision", "data_workers", "calibration_images"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in volatile}


# (minimum, maximum) of each numeric hyperparameter, both inclusive.
_RANGES: dict[str, tuple[float, float]] = {
    "epochs": (1, 10_000),
    "batch_size": (1, 65_536),
    "learning_rate": (1e-8, 10.0),
    "weight_decay": (0.0, 1.0),
    "image_size": (0, 1024),
    "seed": (0, 2**31 - 1),
    "processes_per_host": (0, 64),
    "data_workers": (-1, 64),
    "max_shift_pixels": (-1, 256),
    "calibration_images": (1, 100_000),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHITECTURES,
    "color_mode": COLOR_MODES,
    "device": DEVICES,
    "mixed_precision": MIXED_PRECISION,
}
# Hyperparameters whose default may also be written as "auto".
_AUTO_DEFAULTS = {"image_size": 0, "processes_per_host": 0, "data_workers": -1, "max_shift_pixels": -1}


def read(path: Path) -> Hyperparameters:
    """Read `hyperparameters.json` (absent: every default) and convert each value to its declared type."""
    if not path.is_file():
        return Hyperparameters()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrainingError(f"hyperparameters file {path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise TrainingError(f"hyperparameters file {path} must hold a JSON object, found {type(document).__name__}")
    return parse({k: v for k, v in document.items() if not k.startswith(("_", "sagemaker_"))})


def parse(values: dict[str, object]) -> Hyperparameters:
    """Convert string values (as SageMaker writes them) to `Hyperparameters`; `TrainingError` names a bad one."""
    declared = {f.name: f.type for f in fields(Hyperparameters)}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise TrainingError(f"unsupported hyperparameters {unknown}; supported: {sorted(declared)}")
    typed: dict[str, Any] = {name: _convert(name, declared[name], value) for name, value in values.items()}
    return Hyperparameters(**typed)


def _convert(name: str, kind: object, value: object) -> object:
    """One value: a string (or a JSON number) converted to `kind`, range- or choice-checked."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TrainingError(f"hyperparameter {name}={value!r} must be a string")
    text = str(value).strip()
    if kind == "str":
        choices = _CHOICES[name]
        if text.lower() not in choices:
            raise TrainingError(f"hyperparameter {name}={value!r} must be one of {list(choices)}")
        return text.lower()
    if name in _AUTO_DEFAULTS and text.lower() == AUTO:
        return _AUTO_DEFAULTS[name]
    try:
        number: float = int(text) if kind == "int" else float(text)
    except ValueError:
        noun = "an integer" if kind == "int" else "a number"
        raise TrainingError(f"hyperparameter {name}={value!r} is not {noun}") from None
    low, high = _RANGES[name]
    if not math.isfinite(number) or not low <= number <= high:
        raise TrainingError(f"hyperparameter {name}={value!r} must be between {low:g} and {high:g}")
    return number
