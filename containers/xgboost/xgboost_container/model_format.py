"""The model artifact format shared by training, evaluation and serving (see docs/contracts.md).

A model directory (what SageMaker packs into `model.tar.gz` from `/opt/ml/model`, and unpacks
into `/opt/ml/model` of an endpoint) holds one file, `xgboost-model`: the Booster in XGBoost's
JSON model format, written so that the XGBoost of SageMaker's built-in image reads it the same
(`requirements-builtin-image.txt`, 3.0.5 for the image version the model build records, 3.0-5).
XGBoost 3.1 started writing the intercept (`base_score`) as a list, `[1.002E1]`; XGBoost 3.0 reads
only a single number there, falls back to 0.5 and predicts values shifted by the intercept,
silently. So a single intercept is written as a number, which every version reads; a model with
one intercept per class (multi-class models trained by XGBoost 3.1 or later) keeps the list, and
only a 3.1+ XGBoost serves it correctly.

What a consumer needs besides the trees travels inside that file, as a booster attribute
(`platform_metadata`: `{"feature_names": [...], "label": "..."}`); the feature count and the
objective are the booster's own. One file, so that SageMaker's built-in XGBoost container serves
the artifact as well: it loads the first file of the model directory (every file, with its
default ensemble setting) with pickle, then `Booster.load_model`, and any other file beside the
booster would stop it from starting. A booster without the attribute (one trained by the built-in
container, or by this image before the attribute existed) loads with generic feature names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import xgboost

MODEL_FILE = "xgboost-model"
METADATA_ATTRIBUTE = "platform_metadata"
DEFAULT_LABEL = "label"


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
    booster: xgboost.Booster, model_dir: str | Path, *, feature_names: list[str], label: str
) -> ModelMetadata:
    """Write `booster` with its metadata as the artifact in `model_dir` (created if absent); return the metadata.

    `booster` itself is not changed (the attribute is set on a copy).
    """
    if booster.num_features() != len(feature_names):
        raise ModelFormatError(
            f"the booster was trained on {booster.num_features()} features but "
            f"{len(feature_names)} feature names are given"
        )
    saved = booster.copy()
    saved.set_attr(**{METADATA_ATTRIBUTE: json.dumps({"feature_names": list(feature_names), "label": label})})
    directory = Path(model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(portable_model_bytes(saved))
    return read_metadata(saved, MODEL_FILE)


def portable_model_bytes(booster: xgboost.Booster) -> bytes:
    """The booster in XGBoost's JSON model format, with a single intercept written as a number.

    See the module's docstring: XGBoost 3.0 (SageMaker's built-in image) reads `base_score` only
    as a number; XGBoost 3.1+ writes it as a list and reads either.
    """
    document = json.loads(booster.save_raw(raw_format="json"))
    parameters = document["learner"]["learner_model_param"]
    intercepts = parameters["base_score"].strip("[]").split(",")
    if len(intercepts) == 1:
        parameters["base_score"] = intercepts[0]
    return json.dumps(document, separators=(",", ":")).encode()


def load_model(model_dir: str | Path) -> tuple[xgboost.Booster, ModelMetadata]:
    """Read the Booster and its metadata from an unpacked model directory.

    Raises `ModelFormatError` naming the missing or malformed file (or attribute).
    """
    model_path = Path(model_dir) / MODEL_FILE
    if not model_path.is_file():
        raise ModelFormatError(f"model artifact file {model_path} not found")
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(model_path.read_bytes()))  # the format is detected from the bytes
    except xgboost.core.XGBoostError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ModelFormatError(f"{model_path} is not an XGBoost model: {first_line}") from error
    return booster, read_metadata(booster, str(model_path))


def read_metadata(booster: xgboost.Booster, source: str) -> ModelMetadata:
    """The metadata a booster carries (generic names when it carries none); `source` names it in errors."""
    count = booster.num_features()
    objective = str(json.loads(booster.save_config())["learner"]["objective"]["name"])
    text = booster.attr(METADATA_ATTRIBUTE)
    if text is None:
        generic = list(booster.feature_names or [f"f{index}" for index in range(count)])
        return ModelMetadata(generic, count, DEFAULT_LABEL, objective)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelFormatError(f"{source}: attribute {METADATA_ATTRIBUTE} is not valid JSON: {error}") from None
    names = document.get("feature_names") if isinstance(document, dict) else None
    label = document.get("label") if isinstance(document, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names) or not isinstance(label, str):
        raise ModelFormatError(
            f'{source}: attribute {METADATA_ATTRIBUTE} must hold {{"feature_names": [strings], "label": string}}'
        )
    if len(names) != count:
        raise ModelFormatError(f"{source}: the booster expects {count} features but its metadata names {len(names)}")
    return ModelMetadata(names, count, label, objective)
