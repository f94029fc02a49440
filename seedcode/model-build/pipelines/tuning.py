"""Local hyperparameter search: the pipeline's Tune step on this machine, with Optuna.

SageMaker's tuning job (`TuningStep`, see `pipelines/abalone/pipeline.py`) and this search share
the configuration's `tuning` section: the same ranges (Logarithmic scaling becomes a log-uniform
draw), the same budget (`max_trials`) and the same objective, the last `validation:<eval_metric>`
value that the metric definition's regular expression finds in XGBoost's evaluation log. Each
trial runs the XGBoost image's training function (`xgboost_container.train`) on the same
channels, in this process (one trial at a time: the sampler then sees every result before the
next draw) and single-threaded (`nthread=1` unless the hyperparameters set it: on the small data
sets this runs on, one thread per trial is fastest, and many times faster than XGBoost's default
thread pool when other processes share the CPU; the trees do not depend on it). `Bayesian` is
Optuna's TPE sampler and `Random` its random sampler, both seeded. The best trial's model
directory is what the Evaluate step scores.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.abalone.pipeline_config import ParameterRange, TuningConfig

TRAINING_CHANNELS = {"train": "text/csv", "validation": "text/csv", "features": "application/json"}


class TuningError(Exception):
    """A trial failed; the message names the trial, its hyperparameters and the reason."""


@dataclass
class TuningResult:
    """The outcome of the search: the best trial and every trial's objective value."""

    objective_metric: str
    objective_type: str
    best_value: float
    best_hyperparameters: dict[str, str]
    best_model_dir: Path
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON-ready record of the search for the run summary."""
        return {
            "objective_metric": self.objective_metric,
            "objective_type": self.objective_type,
            "trials": self.trials,
            "best_value": self.best_value,
            "best_hyperparameters": self.best_hyperparameters,
            "seconds": round(self.seconds, 3),
        }


def suggest(trial: Any, item: ParameterRange) -> str:
    """Draw one hyperparameter value for `trial` from its range, as the string SageMaker would pass."""
    log = item.scaling == "Logarithmic"
    if item.kind == "categorical":
        return str(trial.suggest_categorical(item.name, list(item.values)))
    if item.kind == "integer":
        return str(trial.suggest_int(item.name, int(item.low), int(item.high), log=log))
    return repr(trial.suggest_float(item.name, item.low, item.high, log=log))


def objective_value(log: str, regex: str) -> float:
    """The last value of the objective metric in a training log (what SageMaker's tuning job records)."""
    values = re.findall(regex, log)
    if not values:
        raise TuningError(f"the training log has no line matching the objective's regular expression {regex!r}")
    return float(values[-1])


def _lay_out_trial(root: Path, channels: Path, hyperparameters: dict[str, str]) -> None:
    """A training job's `/opt/ml` below `root`: the shared channels and the trial's hyperparameters."""
    config_dir = root / "input" / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps({name: {"ContentType": kind} for name, kind in TRAINING_CHANNELS.items()})
    )
    data_dir = root / "input" / "data"
    data_dir.mkdir(parents=True)
    for name in TRAINING_CHANNELS:
        (data_dir / name).symlink_to((channels / name).resolve(), target_is_directory=True)


def run_search(
    tuning: TuningConfig,
    *,
    hyperparameters: dict[str, str],
    regex: str,
    channels: Path,
    work_dir: Path,
    seed: int,
    echo: Callable[[str], None] = print,
) -> TuningResult:
    """Search `tuning.ranges` for `tuning.max_trials` trials; return the best trial (its model kept)."""
    import optuna

    from xgboost_container import paths, train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if tuning.strategy == "Bayesian"
        else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(
        direction="maximize" if tuning.objective_type == "Maximize" else "minimize", sampler=sampler
    )
    trial_dirs: dict[int, Path] = {}

    def run_trial(trial: Any) -> float:
        values = {"nthread": "1", **hyperparameters, **{item.name: suggest(trial, item) for item in tuning.ranges}}
        root = trial_dirs[trial.number] = work_dir / f"trial-{trial.number:03d}"
        _lay_out_trial(root, channels, values)
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):
                train.train(paths.resolve({"SM_ML_ROOT": str(root)}))
        except train.TrainingError as error:
            raise TuningError(f"trial {trial.number} with {values} failed: {error}") from None
        trial.set_user_attr("hyperparameters", values)
        return objective_value(log.getvalue(), regex)

    started = time.perf_counter()
    train_log = logging.getLogger(train.__name__)
    level = train_log.level
    train_log.setLevel(logging.WARNING)  # one line per trial would drown the step's output
    try:
        study.optimize(run_trial, n_trials=tuning.max_trials)
    finally:
        train_log.setLevel(level)
    best = study.best_trial
    assert best.value is not None  # a trial that completed has its objective value
    for number, directory in trial_dirs.items():
        if number != best.number:
            shutil.rmtree(directory, ignore_errors=True)
    result = TuningResult(
        objective_metric=tuning.objective_metric,
        objective_type=tuning.objective_type,
        best_value=best.value,
        best_hyperparameters=dict(best.user_attrs["hyperparameters"]),
        best_model_dir=trial_dirs[best.number] / "model",
        trials=[{"number": t.number, "value": t.value} for t in study.trials],
        seconds=time.perf_counter() - started,
    )
    tuned = {item.name: result.best_hyperparameters[item.name] for item in tuning.ranges}
    echo(
        f"[Tune] {len(study.trials)} trials ({tuning.strategy}, seed {seed}): best {tuning.objective_metric}="
        f"{result.best_value:.4f} (trial {best.number}) with {tuned}"
    )
    return result
