"""The generated transactions in the layouts the platform's trainers read.

- `write_model_build_dataset`: the model build seed's layout (`seedcode/model-build`): a CSV with
  a header row, the label `is_fraud` as the last column, and a `config.json` in the seed's format
  (`input_data`, `dataset`, `hyperparameters` with `objective: binary:logistic`), so the seed's
  pipeline can be pointed at it by configuration.
- `write_training_channels`: the SageMaker training container layout the XGBoost image's
  `train.py` reads (`input/data/{train,validation}/*.csv` without header, label first,
  `input/data/features/features.json`, `input/config/hyperparameters.json`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fraud_model.transactions import LABEL
from fraud_scoring.schema import FEATURE_NAMES

# The model's hyperparameters; the seed's config.json carries the same ones.
HYPERPARAMETERS: dict[str, str] = {
    "objective": "binary:logistic",
    "eval_metric": "aucpr",
    "num_round": "300",
    "early_stopping_rounds": "30",
    "max_depth": "5",
    "eta": "0.1",
    "min_child_weight": "2",
    "subsample": "0.8",
    "colsample_bytree": "0.8",
    "seed": "0",
}
SPLIT = {"train": 0.7, "validation": 0.15, "test": 0.15}
MODEL_BUILD_CSV = "transactions.csv"


def time_split(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Train on the oldest 70 % of payments, validate on the next 15 %, test on the newest 15 %.

    A split in time, as the model would meet the future in production (a random split would let
    a fraud burst's payments sit on both sides).
    """
    ordered = table.sort_values("timestamp", kind="stable")
    first = int(len(ordered) * SPLIT["train"])
    second = first + int(len(ordered) * SPLIT["validation"])
    return {"train": ordered.iloc[:first], "validation": ordered.iloc[first:second], "test": ordered.iloc[second:]}


def write_model_build_dataset(table: pd.DataFrame, directory: Path, *, input_data: str | None = None) -> Path:
    """Write `transactions.csv` and `config.json` for the model build seed; returns the config path.

    The CSV goes to `data/` (the seed reads every file under `input_data`). `input_data` defaults to
    that directory (the seed's local mode reads local paths; on AWS, upload the file and set its
    `s3://` URL).
    """
    (directory / "data").mkdir(parents=True, exist_ok=True)
    csv_path = directory / "data" / MODEL_BUILD_CSV
    table[[*FEATURE_NAMES, LABEL]].to_csv(csv_path, index=False)
    config = {
        "input_data": input_data or str(csv_path.parent.resolve()),
        "dataset": {
            "columns": [*FEATURE_NAMES, LABEL],
            "label": LABEL,
            # merchant_category is an integer code; trees split on it directly.
            "categorical_columns": [],
            "has_header": True,
            "missing_values": [""],
            "split": SPLIT,
            "seed": 0,
        },
        "hyperparameters": HYPERPARAMETERS,
    }
    config_path = directory / "config.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return config_path


def write_training_channels(splits: dict[str, pd.DataFrame], ml_root: Path) -> None:
    """Lay out a training job for the XGBoost image under `ml_root` (its `SM_ML_ROOT`)."""
    data = ml_root / "input" / "data"
    for channel in ("train", "validation"):
        (data / channel).mkdir(parents=True, exist_ok=True)
        splits[channel][[LABEL, *FEATURE_NAMES]].to_csv(data / channel / f"{channel}.csv", index=False, header=False)
    (data / "features").mkdir(parents=True, exist_ok=True)
    (data / "features" / "features.json").write_text(json.dumps({"feature_names": list(FEATURE_NAMES), "label": LABEL}))
    config = ml_root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
