"""The pipeline configuration (`config.json`): read, validated, and completed with derived settings.

Everything data set specific lives in that one file (README.md documents every key): the input
location, the problem type, how to read and split the data, the hyperparameters, the quality
gate, the optional tuning and managed spot training. A bad entry fails at once with a `ConfigError` naming the key.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.abalone.evaluate import GATE_METRICS, metric_path
from pipelines.abalone.preprocess import BINARY, MULTICLASS, REGRESSION, DatasetConfig, PreprocessError

TOP_LEVEL_KEYS = (
    "framework",
    "input_data",
    "problem_type",
    "dataset",
    "hyperparameters",
    "quality_gate",
    "tuning",
    "spot_training",
)
REQUIRED_KEYS = ("input_data", "dataset", "hyperparameters", "quality_gate")
# XGBoost objective and evaluation metric of each problem type: classification models must give
# probabilities (the endpoint returns them; evaluation scores them).
OBJECTIVES = {BINARY: "binary:logistic", MULTICLASS: "multi:softprob"}
REGRESSION_OBJECTIVE_PREFIXES = ("reg:", "count:")
DEFAULT_OBJECTIVE = {REGRESSION: "reg:squarederror", **OBJECTIVES}
DEFAULT_EVAL_METRIC = {REGRESSION: "rmse", BINARY: "auc", MULTICLASS: "mlogloss"}
# XGBoost evaluation metrics where higher is better (all the others are losses or errors).
MAXIMIZED_EVAL_METRICS = ("auc", "aucpr", "map", "ndcg", "pre")
TUNING_KEYS = ("enabled", "strategy", "max_trials", "max_parallel_trials", "ranges")
STRATEGIES = ("Bayesian", "Random")
SCALINGS = ("Auto", "Linear", "Logarithmic")
RANGE_TYPES = ("continuous", "integer")
SPOT_KEYS = ("enabled", "max_run_seconds", "max_wait_seconds")
MAX_RUN_SECONDS = 28 * 24 * 3600  # SageMaker's longest training job
# Derived from the problem type; a tuning job may not vary them.
STRUCTURAL_HYPERPARAMETERS = ("objective", "num_class", "eval_metric")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class ConfigError(Exception):
    """An invalid pipeline configuration file; the message names the entry at fault."""


@dataclass(frozen=True)
class QualityGate:
    """`quality_gate`: the metric the pipeline's condition checks and its bound."""

    metric: str
    bound: str  # "min" (the metric must be at least the threshold) or "max" (at most)
    threshold: float

    def passes(self, value: float) -> bool:
        """Whether `value` meets the gate."""
        return value >= self.threshold if self.bound == "min" else value <= self.threshold

    def describe(self) -> str:
        """`mse <= 6.0` style text."""
        return f"{self.metric} {'>=' if self.bound == 'min' else '<='} {self.threshold:g}"


@dataclass(frozen=True)
class ParameterRange:
    """One hyperparameter range of the tuning step."""

    name: str
    kind: str  # "continuous", "integer" or "categorical"
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Auto"
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class TuningConfig:
    """`tuning`: the search space and budget, for SageMaker's tuning job and the local search alike."""

    enabled: bool
    strategy: str
    max_trials: int
    max_parallel_trials: int
    ranges: tuple[ParameterRange, ...]
    objective_metric: str  # "validation:<eval_metric>"
    objective_type: str  # "Minimize" or "Maximize"


@dataclass(frozen=True)
class SpotTraining:
    """`spot_training`: managed spot training of the Train (and Tune) step, with checkpoints in S3.

    SageMaker runs the job on spare capacity, bills only its `BillableTimeInSeconds` and may interrupt
    it; an interrupted job restarts from the checkpoints it left in `/opt/ml/checkpoints` (synced to
    `<execution prefix>/checkpoints/`). `max_wait_seconds` (run time plus time waiting for capacity)
    must be at least `max_run_seconds`.
    """

    enabled: bool = False
    max_run_seconds: int = 3600
    max_wait_seconds: int = 7200


@dataclass(frozen=True)
class PipelineConfig:
    """The validated content of `config.json`."""

    input_data: str
    problem_type: str
    dataset: DatasetConfig
    hyperparameters: dict[str, str]
    quality_gate: QualityGate
    tuning: TuningConfig | None = None
    eval_metric: str = field(default="rmse")
    spot_training: SpotTraining = field(default_factory=SpotTraining)

    def input_data_for(self, region: str) -> str:
        """The default input location, with `{region}` replaced."""
        return self.input_data.replace("{region}", region)

    @property
    def metric_json_path(self) -> str:
        """Where the quality gate's metric is in evaluation.json."""
        return metric_path(self.problem_type, self.quality_gate.metric)

    def tuning_enabled(self, override: bool | None = None) -> bool:
        """Whether this run tunes: `override` when given (the `--tune` option), else `tuning.enabled`."""
        wanted = self.tuning is not None and self.tuning.enabled if override is None else override
        if wanted and self.tuning is None:
            raise ConfigError("tuning was asked for, but the configuration has no 'tuning' section")
        return wanted


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    """Read and validate the pipeline configuration file."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"configuration file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"configuration file {path} must hold a JSON object")
    try:
        return parse_config(document)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def parse_config(document: dict[str, Any]) -> PipelineConfig:
    """Validate a configuration document; raise `ConfigError` naming the first bad key."""
    unknown = sorted(set(document) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown settings {unknown}; known: {list(TOP_LEVEL_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise ConfigError(f"missing settings {missing}")
    if document.get("framework", "xgboost") != "xgboost":
        raise ConfigError(f"'framework' = {document['framework']!r}: this pipeline trains with 'xgboost'")
    if not isinstance(document["input_data"], str) or not document["input_data"]:
        raise ConfigError("'input_data' must be a non-empty string")
    problem_type = document.get("problem_type", REGRESSION)
    try:
        dataset = DatasetConfig.from_dict(document["dataset"], problem_type)
    except PreprocessError as error:
        raise ConfigError(str(error)) from None
    hyperparameters = parse_hyperparameters(document["hyperparameters"], dataset)
    eval_metric = hyperparameters["eval_metric"]
    return PipelineConfig(
        input_data=document["input_data"],
        problem_type=dataset.problem_type,
        dataset=dataset,
        hyperparameters=hyperparameters,
        quality_gate=parse_quality_gate(document["quality_gate"], dataset.problem_type),
        tuning=parse_tuning(document["tuning"], eval_metric) if "tuning" in document else None,
        eval_metric=eval_metric,
        spot_training=parse_spot_training(document.get("spot_training", {})),
    )


def parse_spot_training(section: object) -> SpotTraining:
    """`{"enabled": true, "max_run_seconds": 3600, "max_wait_seconds": 7200}`; absent: on-demand training."""
    if not isinstance(section, dict):
        raise ConfigError(f"'spot_training' must be an object, found {section!r}")
    unknown = sorted(set(section) - set(SPOT_KEYS))
    if unknown:
        raise ConfigError(f"unknown 'spot_training' settings {unknown}; known: {list(SPOT_KEYS)}")
    default = SpotTraining()
    enabled = section.get("enabled", default.enabled)
    if not isinstance(enabled, bool):
        raise ConfigError(f"'spot_training.enabled' must be true or false, found {enabled!r}")
    seconds = {}
    for key in ("max_run_seconds", "max_wait_seconds"):
        value = section.get(key, getattr(default, key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RUN_SECONDS:
            raise ConfigError(f"'spot_training.{key}' must be an integer from 1 to {MAX_RUN_SECONDS}, found {value!r}")
        seconds[key] = value
    if seconds["max_wait_seconds"] < seconds["max_run_seconds"]:
        raise ConfigError(
            f"'spot_training.max_wait_seconds' ({seconds['max_wait_seconds']}) must be at least "
            f"'spot_training.max_run_seconds' ({seconds['max_run_seconds']}): it includes the run"
        )
    return SpotTraining(enabled, seconds["max_run_seconds"], seconds["max_wait_seconds"])


def parse_hyperparameters(section: object, dataset: DatasetConfig) -> dict[str, str]:
    """The training job's hyperparameters (strings, as SageMaker passes them), completed for the problem type."""
    if not isinstance(section, dict) or "num_round" not in section:
        raise ConfigError("'hyperparameters' must be an object that sets num_round")
    for name, value in section.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"'hyperparameters.{name}' = {value!r} must be a string or a number")
    values = {name: str(value) for name, value in section.items()}
    problem_type = dataset.problem_type
    objective = values.setdefault("objective", DEFAULT_OBJECTIVE[problem_type])
    if problem_type == REGRESSION and not objective.startswith(REGRESSION_OBJECTIVE_PREFIXES):
        raise ConfigError(
            f"'hyperparameters.objective' = {objective!r} is not a regression objective (reg:... or count:...)"
        )
    if problem_type != REGRESSION and objective != OBJECTIVES[problem_type]:
        raise ConfigError(
            f"'hyperparameters.objective' = {objective!r}: {problem_type} needs {OBJECTIVES[problem_type]!r} "
            "(class probabilities)"
        )
    if problem_type == MULTICLASS:
        classes = len(dataset.classes or [])
        if values.setdefault("num_class", str(classes)) != str(classes):
            raise ConfigError(
                f"'hyperparameters.num_class' = {values['num_class']} disagrees with the {classes} 'dataset.classes'"
            )
    elif "num_class" in values:
        raise ConfigError(f"'hyperparameters.num_class' applies to multiclass_classification, not {problem_type}")
    values.setdefault("eval_metric", DEFAULT_EVAL_METRIC[problem_type])
    return values


def parse_quality_gate(section: object, problem_type: str) -> QualityGate:
    """`{"metric": "mse", "max": 6.0}` or `{"metric": "auc", "min": 0.8}`, checked against the problem type."""
    if not isinstance(section, dict):
        raise ConfigError(f'\'quality_gate\' must be an object like {{"metric": "mse", "max": 6.0}}, found {section!r}')
    unknown = sorted(set(section) - {"metric", "min", "max"})
    if unknown:
        raise ConfigError(f"unknown 'quality_gate' settings {unknown}; known: ['metric', 'min', 'max']")
    metric = section.get("metric")
    allowed = GATE_METRICS[problem_type]
    if metric not in allowed:
        other = [kind for kind, names in GATE_METRICS.items() if metric in names]
        hint = f" ({metric!r} is a {' / '.join(other)} metric)" if other else ""
        raise ConfigError(
            f"'quality_gate.metric' = {metric!r} is not a {problem_type} metric{hint}; one of {sorted(allowed)}"
        )
    bounds = [bound for bound in ("min", "max") if bound in section]
    if len(bounds) != 1:
        raise ConfigError(f"'quality_gate' must set exactly one of 'min' or 'max' for {metric!r}")
    bound, expected = bounds[0], allowed[metric]
    if bound != expected:
        better = "lower" if expected == "max" else "higher"
        raise ConfigError(f"'quality_gate.{bound}': {better} {metric} is better, so the gate is '{expected}'")
    threshold = section[bound]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ConfigError(f"'quality_gate.{bound}' must be a number, found {threshold!r}")
    return QualityGate(metric=metric, bound=bound, threshold=float(threshold))


def parse_tuning(section: object, eval_metric: str) -> TuningConfig:
    """`tuning`: strategy, budget and ranges; the objective is the validation `eval_metric`."""
    if not isinstance(section, dict):
        raise ConfigError(f"'tuning' must be an object, found {section!r}")
    unknown = sorted(set(section) - set(TUNING_KEYS))
    if unknown:
        raise ConfigError(f"unknown 'tuning' settings {unknown}; known: {list(TUNING_KEYS)}")
    enabled = section.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"'tuning.enabled' must be true or false, found {enabled!r}")
    strategy = section.get("strategy", "Bayesian")
    if strategy not in STRATEGIES:
        raise ConfigError(f"'tuning.strategy' = {strategy!r} must be one of {list(STRATEGIES)}")
    max_trials = _positive_int(section, "max_trials", 500)
    max_parallel = _positive_int(section, "max_parallel_trials", 100)
    if max_parallel > max_trials:
        raise ConfigError(f"'tuning.max_parallel_trials' ({max_parallel}) exceeds 'tuning.max_trials' ({max_trials})")
    ranges = section.get("ranges")
    if not isinstance(ranges, dict) or not ranges:
        raise ConfigError("'tuning.ranges' must map at least one hyperparameter name to its range")
    return TuningConfig(
        enabled=enabled,
        strategy=strategy,
        max_trials=max_trials,
        max_parallel_trials=max_parallel,
        ranges=tuple(parse_range(name, spec) for name, spec in ranges.items()),
        objective_metric=f"validation:{eval_metric}",
        objective_type="Maximize" if eval_metric.startswith(MAXIMIZED_EVAL_METRICS) else "Minimize",
    )


def _positive_int(section: dict[str, Any], key: str, limit: int) -> int:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ConfigError(f"'tuning.{key}' must be an integer from 1 to {limit}, found {value!r}")
    return value


def parse_range(name: str, spec: object) -> ParameterRange:
    """One `tuning.ranges` entry: `{"min", "max", "type", "scaling"}` or `{"values": [...]}`."""
    key = f"'tuning.ranges.{name}'"
    if not _NAME.match(name) or name in STRUCTURAL_HYPERPARAMETERS:
        raise ConfigError(f"{key}: not a hyperparameter a tuning job can vary")
    if not isinstance(spec, dict):
        raise ConfigError(f"{key} must be an object, found {spec!r}")
    if "values" in spec:
        values = spec["values"]
        if set(spec) != {"values"} or not isinstance(values, list) or len(values) < 2:
            raise ConfigError(f'{key}: a categorical range is {{"values": [at least two values]}}')
        return ParameterRange(name=name, kind="categorical", values=tuple(str(value) for value in values))
    unknown = sorted(set(spec) - {"min", "max", "type", "scaling"})
    if unknown:
        raise ConfigError(f"{key}: unknown settings {unknown}; known: ['min', 'max', 'type', 'scaling'] or 'values'")
    return _numeric_range(key, name, spec)


def _numeric_range(key: str, name: str, spec: dict[str, Any]) -> ParameterRange:
    low, high = spec.get("min"), spec.get("max")
    kind, scaling = spec.get("type", "continuous"), spec.get("scaling", "Auto")
    if (
        not isinstance(low, (int, float))
        or not isinstance(high, (int, float))
        or isinstance(low, bool)
        or isinstance(high, bool)
        or not low < high
    ):
        raise ConfigError(f"{key}: 'min' and 'max' must be numbers with min < max, found {low!r} and {high!r}")
    if kind not in RANGE_TYPES:
        raise ConfigError(f"{key}: 'type' = {kind!r} must be one of {list(RANGE_TYPES)}")
    if kind == "integer" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{key}: an integer range needs whole-number bounds, found {low!r} and {high!r}")
    if scaling not in SCALINGS:
        raise ConfigError(f"{key}: 'scaling' = {scaling!r} must be one of {list(SCALINGS)}")
    if scaling == "Logarithmic" and low <= 0:
        raise ConfigError(f"{key}: a Logarithmic range needs min > 0, found {low!r}")
    return ParameterRange(name=name, kind=kind, low=float(low), high=float(high), scaling=scaling)
