"""The image classifier pipeline's configuration (`pipelines/image_classifier/config.json`), validated.

Everything data set specific lives in that file (README.md documents every key): where the labelled images
are (an S3 prefix of `<class>/<image>.png|jpg` folders, or `digits`: scikit-learn's handwritten digits, the
seeds' doodle classifier in miniature), how to split them, the PyTorch image's training hyperparameters,
the engine the endpoint serves with, and the quality gate. A bad entry fails at once with a `ConfigError`
naming the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.abalone.pipeline_config import ConfigError, QualityGate

FRAMEWORK = "pytorch"
PROBLEM_TYPE = "image_classification"
SECTION = "multiclass_classification_metrics"  # SageMaker Model Monitor's section for more than two classes
DIGITS = "digits"
TOP_LEVEL_KEYS = ("framework", "input_data", "dataset", "hyperparameters", "serving", "quality_gate")
DATASET_KEYS = ("split", "seed")
SPLITS = ("train", "validation", "test")
# The engines of the PyTorch image's predictor (pytorch_container.engines.ENGINES).
ENGINES = ("eager", "exported", "onnx", "onnx-int8")
# Metrics of the predicted class (top-1), all "higher is better".
GATE_METRICS = ("accuracy", "weighted_f1", "weighted_precision", "weighted_recall")
# Hyperparameters the pipeline decides: where the image writes, which device it uses.
RESERVED_HYPERPARAMETERS = ("device", "processes_per_host")

__all__ = ["ConfigError", "ImageClassifierConfig", "load_config", "parse_config"]


@dataclass(frozen=True)
class ImageClassifierConfig:
    """The validated content of the image classifier's `config.json`."""

    input_data: str
    split: dict[str, float]
    seed: int
    hyperparameters: dict[str, str]
    engine: str
    quality_gate: QualityGate
    problem_type: str = PROBLEM_TYPE

    @property
    def builtin_digits(self) -> bool:
        """Whether the images are scikit-learn's digits (written by the Prepare step) rather than an S3 prefix."""
        return self.input_data == DIGITS

    def input_data_for(self, region: str) -> str:
        """The input location, with `{region}` replaced."""
        return self.input_data.replace("{region}", region)

    @property
    def metric_json_path(self) -> str:
        """Where the quality gate's metric is in evaluation.json."""
        return f"{SECTION}.{self.quality_gate.metric}.value"


def framework_of(path: str | Path) -> str:
    """The `framework` a configuration file names (`xgboost` when it names none): which pipeline it is for."""
    document = _read(path)
    framework = document.get("framework", "xgboost")
    if not isinstance(framework, str):
        raise ConfigError(f"{path}: 'framework' must be a string, found {framework!r}")
    return framework


def load_config(path: str | Path) -> ImageClassifierConfig:
    """Read and validate the image classifier's configuration file."""
    try:
        return parse_config(_read(path))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _read(path: str | Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"configuration file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"configuration file {path} must hold a JSON object")
    return document


def parse_config(document: dict[str, Any]) -> ImageClassifierConfig:
    """Validate a configuration document; raise `ConfigError` naming the first bad key."""
    unknown = sorted(set(document) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown settings {unknown}; known: {list(TOP_LEVEL_KEYS)}")
    missing = [key for key in TOP_LEVEL_KEYS if key not in document]
    if missing:
        raise ConfigError(f"missing settings {missing}")
    if document["framework"] != FRAMEWORK:
        raise ConfigError(f"'framework' = {document['framework']!r}: this pipeline trains with {FRAMEWORK!r}")
    input_data = document["input_data"]
    if not isinstance(input_data, str) or not (input_data == DIGITS or input_data.startswith("s3://")):
        raise ConfigError(
            f"'input_data' = {input_data!r} must be an s3:// prefix of <class>/<image> folders or {DIGITS!r}"
        )
    split, seed = parse_dataset(document["dataset"])
    return ImageClassifierConfig(
        input_data=input_data,
        split=split,
        seed=seed,
        hyperparameters=parse_hyperparameters(document["hyperparameters"]),
        engine=parse_serving(document["serving"]),
        quality_gate=parse_quality_gate(document["quality_gate"]),
    )


def parse_dataset(section: object) -> tuple[dict[str, float], int]:
    """`dataset`: the split fractions (train, validation, test; adding up to 1) and the shuffle seed."""
    if not isinstance(section, dict) or sorted(set(section) - set(DATASET_KEYS)):
        raise ConfigError(f"'dataset' must be an object with the keys {list(DATASET_KEYS)}, found {section!r}")
    split = section.get("split")
    if not isinstance(split, dict) or set(split) != set(SPLITS):
        raise ConfigError(f"'dataset.split' must give a fraction for each of {list(SPLITS)}, found {split!r}")
    for name, value in split.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ConfigError(f"'dataset.split.{name}' = {value!r} must be a fraction from 0 to below 1")
    if split["train"] <= 0 or split["test"] <= 0:
        raise ConfigError("'dataset.split': train and test must each get a fraction above 0")
    if not math.isclose(sum(split.values()), 1.0, abs_tol=1e-6):
        raise ConfigError(f"'dataset.split' fractions add up to {sum(split.values()):g}, not 1")
    seed = section.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"'dataset.seed' = {seed!r} must be a non-negative integer")
    return {name: float(split[name]) for name in SPLITS}, seed


def parse_hyperparameters(section: object) -> dict[str, str]:
    """The training job's hyperparameters as strings (the PyTorch image validates names and values)."""
    if not isinstance(section, dict):
        raise ConfigError(f"'hyperparameters' must be an object, found {section!r}")
    for name, value in section.items():
        if name in RESERVED_HYPERPARAMETERS:
            raise ConfigError(
                f"'hyperparameters.{name}' is decided by the training instance type: the image uses every "
                "GPU it sees (TrainingInstanceType, TrainingInstanceCount)"
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"'hyperparameters.{name}' = {value!r} must be a string or a number")
    return {name: str(value) for name, value in section.items()}


def parse_serving(section: object) -> str:
    """`serving`: `{"engine": ...}`, the predictor engine that is evaluated, registered and deployed."""
    if not isinstance(section, dict) or set(section) != {"engine"}:
        raise ConfigError(f"'serving' must be {{\"engine\": one of {list(ENGINES)}}}, found {section!r}")
    if section["engine"] not in ENGINES:
        raise ConfigError(f"'serving.engine' = {section['engine']!r} must be one of {list(ENGINES)}")
    return str(section["engine"])


def parse_quality_gate(section: object) -> QualityGate:
    """`{"metric": "accuracy", "min": 0.97}`: a metric of the predicted class, at least the threshold."""
    if not isinstance(section, dict) or set(section) != {"metric", "min"}:
        raise ConfigError(f'\'quality_gate\' must be {{"metric": ..., "min": ...}}, found {section!r}')
    metric, threshold = section["metric"], section["min"]
    if metric not in GATE_METRICS:
        raise ConfigError(f"'quality_gate.metric' = {metric!r} must be one of {list(GATE_METRICS)}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ConfigError(f"'quality_gate.min' = {threshold!r} must be a number from 0 to 1")
    return QualityGate(metric=metric, bound="min", threshold=float(threshold))
