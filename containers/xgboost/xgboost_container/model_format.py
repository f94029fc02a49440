"""The model artifact format shared by training, evaluation and serving (see docs/contracts.md).

A model directory (what SageMaker packs into `model.tar.gz` from `/opt/ml/model`, and unpacks
into `/opt/ml/model` of an endpoint) holds two files:

- `xgboost-model`: the Booster saved with `Booster.save_model` (XGBoost's own format);
- `model-metadata.json`: `{"feature_names": [...], "num_features": N, "label": "...",
  "objective": "..."}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import xgboost

MODEL_FILE = "xgboost-model"
METADATA_FILE = "model-metadata.json"


class ModelFormatError(Exception):
    """A model directory that does not hold a readable artifact; the message names the problem."""


@dataclass(frozen=True)
class ModelMetadata:
    """What a consumer of the model needs besides the Booster: the input columns and the label."""

    feature_names: list[str]
    num_features: int
    label: str
    objective: str

    def __post_init__(self) -> None:
        if self.num_features != len(self.feature_names):
            raise ModelFormatError(
                f"num_features is {self.num_features} but {len(self.feature_names)} feature names are given"
            )


def save_model(
    booster: xgboost.Booster,
    model_dir: str | Path,
    *,
    feature_names: list[str],
    label: str,
    objective: str,
) -> ModelMetadata:
    """Write `booster` and its metadata into `model_dir` (created if absent); return the metadata."""
    if booster.num_features() != len(feature_names):
        raise ModelFormatError(
            f"the booster was trained on {booster.num_features()} features but "
            f"{len(feature_names)} feature names are given"
        )
    metadata = ModelMetadata(list(feature_names), len(feature_names), label, objective)
    directory = Path(model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # save_raw gives the bytes save_model writes in XGBoost's UBJSON format, without the warning
    # save_model emits for a file name that lacks a .json/.ubj extension.
    (directory / MODEL_FILE).write_bytes(booster.save_raw(raw_format="ubj"))
    (directory / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2) + "\n")
    return metadata


def load_model(model_dir: str | Path) -> tuple[xgboost.Booster, ModelMetadata]:
    """Read the Booster and its metadata from an unpacked model directory.

    Raises `ModelFormatError` naming the missing or malformed file (or field) when the directory
    does not hold a complete artifact, or when the metadata disagrees with the Booster.
    """
    directory = Path(model_dir)
    model_path = directory / MODEL_FILE
    metadata_path = directory / METADATA_FILE
    for path in (model_path, metadata_path):
        if not path.is_file():
            raise ModelFormatError(f"model artifact file {path} not found")
    metadata = _read_metadata(metadata_path)
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(model_path.read_bytes()))  # the format is detected from the bytes
    except xgboost.core.XGBoostError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ModelFormatError(f"{model_path} is not an XGBoost model: {first_line}") from error
    if booster.num_features() != metadata.num_features:
        raise ModelFormatError(
            f"{model_path} expects {booster.num_features()} features but {metadata_path} "
            f"declares {metadata.num_features}"
        )
    return booster, metadata


def _read_metadata(path: Path) -> ModelMetadata:
    """Parse and type-check `model-metadata.json`."""
    try:
        document = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFormatError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise ModelFormatError(f"{path} must hold a JSON object, found {type(document).__name__}")
    expected = {
        "feature_names": (list, "a list"),
        "num_features": (int, "an integer"),
        "label": (str, "a string"),
        "objective": (str, "a string"),
    }
    for key, (kind, description) in expected.items():
        if key not in document:
            raise ModelFormatError(f"{path} lacks the field {key!r}")
        value = document[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ModelFormatError(f"{path}: field {key!r} must be {description}, found {value!r}")
    names = document["feature_names"]
    if not all(isinstance(name, str) for name in names):
        raise ModelFormatError(f"{path}: feature_names must all be strings, found {names!r}")
    return ModelMetadata(names, document["num_features"], document["label"], document["objective"])
