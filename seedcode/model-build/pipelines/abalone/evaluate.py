"""Evaluation step: score the trained model on the test split and write `evaluation.json`.

Runs as a SageMaker Processing job (`python3 evaluate.py`) on the XGBoost image and, unchanged,
on a developer machine (`PIPELINE_EXECUTION_MODE=local`). Layout, below `$SM_ML_ROOT` (default
`/opt/ml`):

- `processing/model/model.tar.gz`: the training step's artifact; it holds `xgboost-model`, whose
  feature count is checked against the test split (the platform's image and SageMaker's built-in
  XGBoost image write the same single file);
- `processing/test/`: the test split (CSV without header, label first; finite numbers, nan for a
  missing feature);
- `processing/evaluation/evaluation.json`:
  `{"regression_metrics": {"mse": {"value": ..., "standard_deviation": ...}}}`, the standard
  deviation being that of the prediction errors (as in SageMaker's abalone example);
- `output/message`: the reason of a failure.

This file is uploaded to the job alone, so it imports nothing from the rest of the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import xgboost

MODEL_FILE = "xgboost-model"


class EvaluationError(Exception):
    """A missing or malformed model or test set; the message names the file and the problem."""


def load_booster(archive: Path) -> xgboost.Booster:
    """Read the Booster from `model.tar.gz`."""
    if not archive.is_file():
        raise EvaluationError(f"model archive {archive} not found")
    try:
        with tarfile.open(archive) as bundle:
            members = {os.path.normpath(member.name): member for member in bundle.getmembers() if member.isfile()}
            if MODEL_FILE not in members:
                raise EvaluationError(f"{archive} does not contain {MODEL_FILE} (found {sorted(members)})")
            model_bytes = bundle.extractfile(members[MODEL_FILE]).read()
    except (tarfile.TarError, OSError) as error:
        raise EvaluationError(f"{archive} is not a readable tar.gz archive: {error}") from error
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(model_bytes))
    except xgboost.core.XGBoostError as error:
        first_line = (str(error).strip().splitlines() or [repr(error)])[0]
        raise EvaluationError(f"{MODEL_FILE} in {archive} is not an XGBoost model: {first_line}") from None
    return booster


def load_test_set(directory: Path) -> np.ndarray:
    """Read every CSV file of the test split into one matrix (label in column 0)."""
    files = sorted(path for path in directory.glob("*.csv") if path.is_file())
    if not files:
        raise EvaluationError(f"no test CSV file found in {directory}")
    parts = []
    for path in files:
        try:
            part = np.loadtxt(path, delimiter=",", ndmin=2)
        except (ValueError, UnicodeDecodeError) as error:
            raise EvaluationError(f"test file {path} is not a numeric CSV file: {error}") from error
        if part.size == 0:
            raise EvaluationError(f"test file {path} is empty")
        labels, features = ~np.isfinite(part[:, 0]), np.isinf(part[:, 1:])
        if labels.any() or features.any():
            row = int(np.flatnonzero(labels | features.any(axis=1))[0])
            raise EvaluationError(
                f"test file {path}, data row {row + 1}: {part[row].tolist()} holds a label that is not a finite "
                "number or an infinite feature (features must be finite; nan marks a missing one)"
            )
        parts.append(part)
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:
        raise EvaluationError(f"test files in {directory} have different column counts {sorted(widths)}")
    return np.vstack(parts)


def evaluate(booster: xgboost.Booster, test: np.ndarray) -> dict:
    """Mean squared error of the predictions and the standard deviation of the errors."""
    features = test.shape[1] - 1
    expected = booster.num_features()
    if features != expected:
        raise EvaluationError(f"the test set has {features} feature columns, the model expects {expected}")
    predictions = booster.predict(xgboost.DMatrix(test[:, 1:]))
    errors = test[:, 0] - predictions
    return {
        "regression_metrics": {"mse": {"value": float(np.mean(errors**2)), "standard_deviation": float(np.std(errors))}}
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    ml_root = Path(os.environ.get("SM_ML_ROOT", "/opt/ml"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-dir", type=Path, default=ml_root / "processing")
    args = parser.parse_args(argv)
    try:
        booster = load_booster(args.base_dir / "model" / "model.tar.gz")
        report = evaluate(booster, load_test_set(args.base_dir / "test"))
    except EvaluationError as error:
        return _fail(ml_root, f"evaluate failed: {error}")
    except Exception as error:  # noqa: BLE001 - every failure must reach output/message, without a backtrace
        first_line = (str(error).strip().splitlines() or [""])[0]
        return _fail(ml_root, f"evaluate failed with an unexpected error: {type(error).__name__}: {first_line}")
    output = args.base_dir / "evaluation" / "evaluation.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    mse = report["regression_metrics"]["mse"]
    print(f"evaluate: test mse={mse['value']:.4f} standard_deviation={mse['standard_deviation']:.4f}")
    return 0


def _fail(ml_root: Path, message: str) -> int:
    """Report `message` on stderr and in `output/message`; return the failing exit status."""
    print(message, file=sys.stderr)
    message_file = ml_root / "output" / "message"
    message_file.parent.mkdir(parents=True, exist_ok=True)
    message_file.write_text(message + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
