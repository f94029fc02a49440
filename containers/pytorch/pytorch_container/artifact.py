"""The model artifact: what training writes to `/opt/ml/model` (SageMaker packs it into `model.tar.gz`).

| File | What |
|---|---|
| `model-metadata.json` | class names, architecture, pre-processing (size, color mode, normalization) |
| `weights.pt` | the network's `state_dict` (`torch.save`; loaded with `weights_only=True`) |
| `model.pt2` | the network as a `torch.export` program, dynamic batch size |
| `model.onnx` | ONNX fp32 (opset 18), dynamic batch size |
| `model-int8.onnx` | ONNX int8: static QDQ, per-channel weights, calibrated on training images |
| `metrics.json` | test accuracy of each engine, the int8 accuracy drop, training time |
| `code/` | `inference.py` and this package, for AWS's PyTorch inference containers |
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytorch_container.images import Preprocessing

METADATA_FILE = "model-metadata.json"
WEIGHTS_FILE = "weights.pt"
EXPORTED_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model-int8.onnx"
METRICS_FILE = "metrics.json"
CODE_DIR = "code"
FORMAT_VERSION = 1
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class ArtifactError(Exception):
    """A model directory that does not hold a readable artifact; the message names the file and the problem."""


@dataclass(frozen=True)
class ModelMetadata:
    """Everything besides the weights that a consumer of the model needs."""

    arch: str
    class_names: list[str]
    preprocessing: Preprocessing
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    format_version: int = FORMAT_VERSION
    files: dict[str, str] = field(default_factory=dict)  # engine -> file, as written by training

    def to_json(self) -> str:
        """The metadata as the JSON document training writes."""
        return json.dumps(asdict(self), indent=2) + "\n"


def write_metadata(model_dir: Path, metadata: ModelMetadata) -> None:
    """Write `model-metadata.json` into `model_dir`."""
    (model_dir / METADATA_FILE).write_text(metadata.to_json(), encoding="utf-8")


def read_metadata(model_dir: Path) -> ModelMetadata:
    """Parse and type-check `model-metadata.json`; `ArtifactError` names a missing or malformed field."""
    path = model_dir / METADATA_FILE
    if not path.is_file():
        raise ArtifactError(f"model artifact file {path} not found; is {model_dir} a PyTorch model directory?")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ArtifactError(f"{path} must hold a JSON object")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path}: format_version {version!r} is not {FORMAT_VERSION}, the one this code reads")
    try:
        pre = document["preprocessing"]
        metadata = ModelMetadata(
            arch=_typed(document, "arch", str),
            class_names=_typed(document, "class_names", list),
            preprocessing=Preprocessing(
                image_size=_typed(pre, "image_size", int),
                color_mode=_typed(pre, "color_mode", str),
                mean=float(_typed(pre, "mean", (int, float))),
                std=float(_typed(pre, "std", (int, float))),
            ),
            input_name=_typed(document, "input_name", str),
            output_name=_typed(document, "output_name", str),
            files=_typed(document, "files", dict),
        )
    except (KeyError, TypeError) as error:
        raise ArtifactError(f"{path}: {error}") from None
    if not metadata.class_names or not all(isinstance(name, str) for name in metadata.class_names):
        raise ArtifactError(f"{path}: class_names must be a non-empty list of strings")
    return metadata


def _typed(document: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """`document[key]` when it has type `kind`; KeyError/TypeError naming the field otherwise."""
    if not isinstance(document, dict) or key not in document:
        raise KeyError(f"field {key!r} missing")
    value = document[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"field {key!r} has the wrong type: {value!r}")
    return value


def write_metrics(model_dir: Path, metrics: dict[str, Any]) -> None:
    """Write `metrics.json` (what the model build's evaluation and the registry read)."""
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
