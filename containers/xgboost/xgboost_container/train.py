"""SageMaker training entrypoint of the XGBoost image (`xgboost-train`, run for `docker run IMAGE train`).

Follows the SageMaker training container contract (paths resolved by `xgboost_container.paths`):

- `input/config/hyperparameters.json`: XGBoost parameters, every value a string (as SageMaker
  writes them); `num_round` is required. Keys starting with `_` or `sagemaker_` (set by the SDK
  and by hyperparameter tuning) are ignored.
- `input/data/train/` (required), `input/data/validation/` (optional): CSV files without
  header, label in the first column, missing values written as `nan`.
- `input/data/features/features.json` (optional): `{"feature_names": [...], "label": "..."}`
  as the model build's preprocess step writes it; without it the features are named `f0, f1, ...`.
- `model/`: the artifact of `xgboost_container.model_format`.
- `output/failure`: on any error, the reason (SageMaker shows it as the job's FailureReason),
  and the process exits with status 1.
- `checkpoints/` (only when it exists: SageMaker creates it for a job with a checkpoint
  configuration, e.g. managed spot training, and keeps it in S3): the booster so far, every
  `CHECKPOINT_ROUNDS` rounds and at the end, as one file replaced atomically. A restarted job (a
  spot interruption) resumes from it and trains only the remaining rounds; a checkpoint written
  with other hyperparameters or data columns fails the job instead of being continued. Early
  stopping after a resume sees only the rounds trained since.

The device is decided at run time and logged: CUDA when the installed XGBoost is built with
CUDA and an NVIDIA GPU is visible, CPU otherwise. The `device` hyperparameter (`auto`, `cpu`,
`cuda`) overrides the choice; `cuda` without a usable GPU fails the job.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
import xgboost

from xgboost_container import model_format, paths

LOG = logging.getLogger("xgboost_container.train")

TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
FEATURES_CHANNEL = "features"
FEATURES_FILE = "features.json"
CHANNELS = (TRAIN_CHANNEL, VALIDATION_CHANNEL, FEATURES_CHANNEL)
NVIDIA_GPU_DIR = Path("/proc/driver/nvidia/gpus")
DEVICES = ("auto", "cpu", "cuda")
CHECKPOINT_FILE = "xgboost-checkpoint.json"
CHECKPOINT_ROUNDS = 10
CHECKPOINT_ATTRIBUTE = "checkpoint_fingerprint"

# Hyperparameters this entrypoint accepts, with the type each string is converted to.
HYPERPARAMETER_TYPES: dict[str, type] = {
    "num_round": int,
    "early_stopping_rounds": int,
    "device": str,
    "objective": str,
    "eval_metric": str,
    "booster": str,
    "tree_method": str,
    "grow_policy": str,
    "sampling_method": str,
    "max_depth": int,
    "max_leaves": int,
    "max_bin": int,
    "num_parallel_tree": int,
    "num_class": int,
    "seed": int,
    "nthread": int,
    "verbosity": int,
    "eta": float,
    "gamma": float,
    "min_child_weight": float,
    "max_delta_step": float,
    "subsample": float,
    "colsample_bytree": float,
    "colsample_bylevel": float,
    "colsample_bynode": float,
    "lambda": float,
    "alpha": float,
    "scale_pos_weight": float,
    "base_score": float,
    "tweedie_variance_power": float,
    "huber_slope": float,
}
# Ranges (inclusive) of the numeric hyperparameters, checked before XGBoost sees them: XGBoost
# itself accepts some out-of-range values silently (a negative seed, a NaN eta).
HYPERPARAMETER_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "num_round": (1, None),
    "early_stopping_rounds": (1, None),
    "max_depth": (0, None),
    "max_leaves": (0, None),
    "max_bin": (2, None),
    "num_parallel_tree": (1, None),
    "num_class": (1, None),
    "seed": (0, 2**63 - 1),
    "nthread": (0, None),
    "verbosity": (0, 3),
    "eta": (0, None),
    "gamma": (0, None),
    "min_child_weight": (0, None),
    "max_delta_step": (0, None),
    "subsample": (0, 1),
    "colsample_bytree": (0, 1),
    "colsample_bylevel": (0, 1),
    "colsample_bynode": (0, 1),
    "lambda": (0, None),
    "alpha": (0, None),
    "scale_pos_weight": (0, None),
    "tweedie_variance_power": (1, 2),
    "huber_slope": (0, None),
}
DEFAULT_OBJECTIVE = "reg:squarederror"
_CPP_LOCATION = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] \S+:\d+: ")


class TrainingError(Exception):
    """A problem with the job's configuration or input; the message names it."""


def read_hyperparameters(path: Path) -> dict[str, object]:
    """Read `hyperparameters.json` and convert each value to its declared type."""
    if not path.is_file():
        raise TrainingError(f"hyperparameters file {path} not found (num_round is required)")
    try:
        document = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrainingError(f"hyperparameters file {path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise TrainingError(f"hyperparameters file {path} must hold a JSON object, found {type(document).__name__}")
    given = {k: v for k, v in document.items() if not k.startswith(("_", "sagemaker_"))}
    unknown = sorted(set(given) - set(HYPERPARAMETER_TYPES))
    if unknown:
        raise TrainingError(f"unsupported hyperparameters {unknown}; supported: {sorted(HYPERPARAMETER_TYPES)}")
    if "num_round" not in given:
        raise TrainingError(f"missing required hyperparameter 'num_round' in {path}")
    typed = {name: _convert(name, value) for name, value in given.items()}
    for name, value in typed.items():
        _check_bounds(name, value, given[name])
    if typed.get("device", "auto") not in DEVICES:
        raise TrainingError(f"hyperparameter device={given['device']!r} must be one of {list(DEVICES)}")
    return typed


def _convert(name: str, value: object) -> object:
    """Convert one hyperparameter value (normally a string) to the declared type."""
    kind = HYPERPARAMETER_TYPES[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TrainingError(f"hyperparameter {name}={value!r} must be a string")
    try:
        if kind is int:
            return int(str(value).strip())
        if kind is float:
            number = float(str(value).strip())
            if not math.isfinite(number):
                raise TrainingError(f"hyperparameter {name}={value!r} is not a finite number")
            return number
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise TrainingError(f"hyperparameter {name}={value!r} is not {noun}") from None
    text = str(value).strip()
    if not text:
        raise TrainingError(f"hyperparameter {name} is empty")
    return text


def _check_bounds(name: str, value: object, given: object) -> None:
    """Refuse a numeric hyperparameter outside its range in `HYPERPARAMETER_BOUNDS`."""
    low, high = HYPERPARAMETER_BOUNDS.get(name, (None, None))
    if not isinstance(value, int | float):
        return
    if low is not None and value < low:
        raise TrainingError(f"hyperparameter {name}={given!r} must be at least {low}")
    if high is not None and value > high:
        raise TrainingError(f"hyperparameter {name}={given!r} must be at most {high}")


def check_channels(container: paths.ContainerPaths) -> None:
    """Fail on a missing `train` channel, an unknown channel or a non-CSV content type."""
    present = (
        sorted(entry.name for entry in container.input_data.iterdir() if entry.is_dir())
        if container.input_data.is_dir()
        else []
    )
    if TRAIN_CHANNEL not in present:
        raise TrainingError(
            f"input channel '{TRAIN_CHANNEL}' not found at {container.channel(TRAIN_CHANNEL)} "
            f"(channels present: {present or 'none'})"
        )
    unknown = sorted(set(present) - set(CHANNELS))
    if unknown:
        raise TrainingError(f"unsupported input channels {unknown}; supported: {list(CHANNELS)}")
    config_file = container.input_config / "inputdataconfig.json"
    if config_file.is_file():
        try:
            channels = json.loads(config_file.read_text())
        except json.JSONDecodeError as error:
            raise TrainingError(f"{config_file} is not valid JSON: {error}") from error
        if not isinstance(channels, dict):
            raise TrainingError(f"{config_file} must hold a JSON object of channels")
        for name, settings in channels.items():
            content_type = settings.get("ContentType") if isinstance(settings, dict) else None
            if name != FEATURES_CHANNEL and content_type and content_type.split(";")[0].strip() != "text/csv":
                raise TrainingError(
                    f"channel '{name}' has content type {content_type!r}; this image reads text/csv only"
                )


def read_channel(directory: Path) -> np.ndarray:
    """Load every data file of a channel into one float32 matrix (label in column 0)."""
    files = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )
    if not files:
        raise TrainingError(f"channel directory {directory} holds no data file")
    matrices = [read_csv(path) for path in files]
    widths = {matrix.shape[1] for matrix in matrices}
    if len(widths) > 1:
        detail = ", ".join(f"{path.name}: {matrix.shape[1]}" for path, matrix in zip(files, matrices, strict=True))
        raise TrainingError(f"files in {directory} have different column counts ({detail})")
    return np.vstack(matrices)


def read_csv(path: Path) -> np.ndarray:
    """Parse one numeric CSV file; on failure name the line, column and value at fault."""
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below
            warnings.simplefilter("ignore", UserWarning)  # numpy warns on empty input; checked below
            matrix = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2, encoding="utf-8")
    except (ValueError, UnicodeDecodeError) as error:
        raise TrainingError(_describe_csv_problem(path) or f"{path} is not a numeric CSV file: {error}") from None
    if matrix.size == 0:
        raise TrainingError(f"data file {path} is empty")
    if matrix.shape[1] < 2:
        raise TrainingError(
            f"data file {path} has {matrix.shape[1]} column; expected the label followed by at least one feature"
        )
    _check_finite(path, matrix)
    return matrix


def _check_finite(path: Path, matrix: np.ndarray) -> None:
    """Refuse a missing or infinite label and an infinite feature (a missing feature, nan, is fine)."""
    bad_labels = np.flatnonzero(~np.isfinite(matrix[:, 0]))
    if bad_labels.size:
        line, token = _locate(path, int(bad_labels[0]), 0)
        raise TrainingError(f"{path}, line {line}: the label {token!r} is not a finite number")
    bad_features = np.argwhere(np.isinf(matrix[:, 1:]))
    if bad_features.size:
        row, column = (int(i) for i in bad_features[0])
        line, token = _locate(path, row, column + 1)
        raise TrainingError(
            f"{path}, line {line}, column {column + 2}: {token!r} is not finite "
            "(features must be finite float32 numbers; write a missing value as nan)"
        )


def _locate(path: Path, row: int, column: int) -> tuple[int, str]:
    """The line number and the text of a value of a data row (numpy skips blank lines)."""
    with path.open(encoding="utf-8") as handle:
        data_lines = ((number, line) for number, line in enumerate(handle, start=1) if line.strip())
        for index, (number, line) in enumerate(data_lines):
            if index == row:
                fields = line.split(",")
                return number, fields[column].strip() if column < len(fields) else ""
    return row + 1, ""


def _describe_csv_problem(path: Path) -> str | None:
    """Find the first malformed row of a CSV file that numpy rejected; None if none is found."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            width = None
            for row in reader:
                if not row or all(not value.strip() for value in row):
                    continue
                if width is None:
                    width = len(row)
                elif len(row) != width:
                    return f"{path}, line {reader.line_num}: expected {width} columns, found {len(row)}"
                for column, value in enumerate(row, start=1):
                    try:
                        float(value)
                    except ValueError:
                        return (
                            f"{path}, line {reader.line_num}, column {column}: {value!r} is not a number "
                            f"(write missing values as nan)"
                        )
    except UnicodeDecodeError as error:
        return f"{path} is not UTF-8 text: {error}"
    return None


def read_feature_schema(container: paths.ContainerPaths, num_features: int) -> tuple[list[str], str]:
    """Feature names and label name from the optional `features` channel, else generic names."""
    directory = container.channel(FEATURES_CHANNEL)
    if not directory.is_dir():
        LOG.info("no '%s' channel: naming the %d features f0..f%d", FEATURES_CHANNEL, num_features, num_features - 1)
        return [f"f{index}" for index in range(num_features)], "label"
    path = directory / FEATURES_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainingError(f"channel '{FEATURES_CHANNEL}' lacks {FEATURES_FILE} (expected at {path})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrainingError(f"{path} is not valid JSON: {error}") from None
    names = document.get("feature_names") if isinstance(document, dict) else None
    label = document.get("label") if isinstance(document, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names) or not isinstance(label, str):
        raise TrainingError(f'{path} must hold {{"feature_names": [strings], "label": string}}')
    if len(names) != num_features:
        raise TrainingError(
            f"{path} names {len(names)} features but the training data has {num_features} feature columns"
        )
    return names, label


def cuda_build() -> bool:
    """Whether the installed XGBoost was compiled with CUDA (the `xgboost` wheel, not `xgboost-cpu`)."""
    return bool(xgboost.build_info().get("USE_CUDA"))


def visible_gpus(gpu_dir: Path = NVIDIA_GPU_DIR) -> int:
    """Number of NVIDIA GPUs the kernel driver exposes (0 without a driver)."""
    return sum(1 for _ in gpu_dir.iterdir()) if gpu_dir.is_dir() else 0


def select_device(requested: str, *, has_cuda_build: bool, gpu_count: int) -> tuple[str, str]:
    """Choose `cpu` or `cuda`; return the device and the reason, for the log."""
    usable = has_cuda_build and gpu_count > 0
    if requested == "cpu":
        return "cpu", "device=cpu requested"
    if requested == "cuda":
        if not usable:
            raise TrainingError(
                f"device=cuda requested but no usable GPU: {gpu_count} NVIDIA GPU(s) visible, "
                f"XGBoost {'has' if has_cuda_build else 'lacks'} CUDA support"
            )
        return "cuda", f"device=cuda requested, {gpu_count} GPU(s) visible"
    if usable:
        return "cuda", f"{gpu_count} NVIDIA GPU(s) visible and XGBoost built with CUDA"
    if gpu_count > 0:
        return "cpu", f"{gpu_count} GPU(s) visible but this XGBoost build has no CUDA support"
    return "cpu", "no NVIDIA GPU visible"


class Checkpoint(xgboost.callback.TrainingCallback):
    """Saves the booster to `checkpoints/` every `CHECKPOINT_ROUNDS` rounds and at the end (write, then rename)."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        super().__init__()
        self.path = directory / CHECKPOINT_FILE
        self.fingerprint = fingerprint

    def save(self, model: xgboost.Booster) -> None:
        """Write the booster with the fingerprint of the job that trained it."""
        partial = self.path.with_name("partial-" + self.path.name)  # .json: XGBoost picks the format by suffix
        model.set_attr(**{CHECKPOINT_ATTRIBUTE: self.fingerprint})
        try:
            model.save_model(partial)
        finally:
            model.set_attr(**{CHECKPOINT_ATTRIBUTE: None})  # the artifact does not carry it
        os.replace(partial, self.path)

    def after_iteration(self, model: xgboost.Booster, epoch: int, evals_log: object) -> bool:
        if (epoch + 1) % CHECKPOINT_ROUNDS == 0:
            self.save(model)
        return False

    def after_training(self, model: xgboost.Booster) -> xgboost.Booster:
        self.save(model)
        return model


def checkpoint_fingerprint(params: dict[str, object], num_round: int, columns: int) -> str:
    """What a checkpoint must agree with to be continued: the parameters, the rounds and the data's width."""
    settings = {key: value for key, value in params.items() if key != "device"}  # another instance may resume
    document = json.dumps({"params": settings, "num_round": num_round, "columns": columns}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()


def resume_from(directory: Path, fingerprint: str) -> xgboost.Booster | None:
    """The checkpointed booster of this job, None without one; `TrainingError` for another job's."""
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        return None
    booster = xgboost.Booster()
    try:
        booster.load_model(path)
    except xgboost.core.XGBoostError as error:
        raise TrainingError(f"checkpoint {path} cannot be read: {_first_line(error)}") from None
    if booster.attr(CHECKPOINT_ATTRIBUTE) != fingerprint:
        raise TrainingError(
            f"checkpoint {path} was written by a job with other hyperparameters or data columns; "
            "remove it or use a new checkpoint location"
        )
    booster.set_attr(**{CHECKPOINT_ATTRIBUTE: None})
    return booster


def train(container: paths.ContainerPaths) -> model_format.ModelMetadata:
    """Run the training job described by `container`; write the model and return its metadata."""
    hyperparameters = read_hyperparameters(container.hyperparameters)
    check_channels(container)
    train_data = read_channel(container.channel(TRAIN_CHANNEL))
    evals_data = {TRAIN_CHANNEL: train_data}
    if container.channel(VALIDATION_CHANNEL).is_dir():
        validation = read_channel(container.channel(VALIDATION_CHANNEL))
        if validation.shape[1] != train_data.shape[1]:
            raise TrainingError(
                f"validation data has {validation.shape[1]} columns, training data {train_data.shape[1]}"
            )
        evals_data[VALIDATION_CHANNEL] = validation
    num_round = int(str(hyperparameters.pop("num_round")))
    early_stopping_rounds = hyperparameters.pop("early_stopping_rounds", None)
    if early_stopping_rounds is not None and VALIDATION_CHANNEL not in evals_data:
        raise TrainingError("early_stopping_rounds needs a 'validation' channel")
    feature_names, label = read_feature_schema(container, train_data.shape[1] - 1)

    device, reason = select_device(
        str(hyperparameters.pop("device", "auto")), has_cuda_build=cuda_build(), gpu_count=visible_gpus()
    )
    LOG.info("training on %s: %s", device, reason)
    params = {"objective": DEFAULT_OBJECTIVE, "tree_method": "hist", **hyperparameters, "device": device}
    LOG.info(
        "data: %s; parameters: %s, num_round=%d",
        ", ".join(f"{name}={data.shape[0]} rows x {data.shape[1] - 1} features" for name, data in evals_data.items()),
        params,
        num_round,
    )
    callbacks: list[xgboost.callback.TrainingCallback] = []
    resumed = None
    if container.checkpoints.is_dir():
        fingerprint = checkpoint_fingerprint(params, num_round, train_data.shape[1])
        resumed = resume_from(container.checkpoints, fingerprint)
        callbacks.append(Checkpoint(container.checkpoints, fingerprint))
    done = resumed.num_boosted_rounds() if resumed is not None else 0
    if resumed is not None:
        LOG.info("resuming from the checkpoint of round %d of %d", done, num_round)
    try:
        matrices = {name: xgboost.DMatrix(data[:, 1:], label=data[:, 0]) for name, data in evals_data.items()}
        booster = xgboost.train(
            params,
            matrices[TRAIN_CHANNEL],
            num_boost_round=max(0, num_round - done),
            evals=list((matrix, name) for name, matrix in matrices.items()),
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=True,
            xgb_model=resumed,
            callbacks=callbacks,
        )
    except xgboost.core.XGBoostError as error:
        raise TrainingError(f"XGBoost rejected the training job: {_first_line(error)}") from None
    if early_stopping_rounds is not None:
        booster = booster[: booster.best_iteration + 1]
    metadata = model_format.save_model(booster, container.model, feature_names=feature_names, label=label)
    LOG.info("model saved to %s (%d features, label %r)", container.model, metadata.num_features, label)
    return metadata


def _first_line(error: BaseException) -> str:
    """The informative first line of an error: XGBoost's carry a C++ source location and stack trace."""
    text = str(error).strip()
    return _CPP_LOCATION.sub("", text.splitlines()[0]) if text else repr(error)


def main() -> int:
    """Console entry point: train, or record the failure reason and return 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    container = paths.resolve()
    try:
        train(container)
    except TrainingError as error:
        return _fail(container, f"training failed: {error}")
    except Exception as error:  # noqa: BLE001 - every failure must reach output/failure
        traceback.print_exc()
        return _fail(
            container, f"training failed with an unexpected error: {type(error).__name__}: {_first_line(error)}"
        )
    return 0


def _fail(container: paths.ContainerPaths, message: str) -> int:
    """Write `message` to the failure file and the log; return the failing exit status."""
    LOG.error(message)
    container.failure.parent.mkdir(parents=True, exist_ok=True)
    container.failure.write_text(message + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
