"""Preprocessing of the breast cancer screening model: raw patient CSVs in, clean feature table out.

Split out of `legacy_screening.py` unchanged in behaviour. On SageMaker it runs in script mode on
the pre-built scikit-learn processing image (`ContainerEntrypoint: python3 .../preprocessing.py`);
locally it runs with the same arguments through the same `/opt/ml/processing` layout, whose root
`PROCESSING_ROOT` may move. Rows that cannot be scored are kept in `rejected/rejected.csv` with
the reason, never dropped silently.

Written for Python 3.9+ and pandas 1.x to 3.x: the pre-built image is older than this repository.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

PROCESSING_ROOT = Path(os.environ.get("PROCESSING_ROOT", "/opt/ml/processing"))
ID_COLUMN = "patient_id"
LABEL_COLUMN = "diagnosis"
LABELS = ("malignant", "benign")
# The 30 measurements of the Wisconsin diagnostic breast cancer data, named as the lab exports them
# (the data set scikit-learn ships, so the pre-built scikit-learn image has it too).
RAW_FEATURES = tuple(str(name) for name in load_breast_cancer().feature_names)


class InputError(ValueError):
    """The input cannot be processed at all (as opposed to single rows, which are rejected)."""


def column_name(raw: str) -> str:
    """Snake-case column name: 'mean concave points' -> 'mean_concave_points'."""
    return re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")


FEATURES = tuple(column_name(name) for name in RAW_FEATURES)


def read_patients(input_dir: Path) -> pd.DataFrame:
    """Every `*.csv` under `input_dir`, concatenated; raise InputError when there is none."""
    files = sorted(input_dir.rglob("*.csv"))
    if not files:
        raise InputError(f"no .csv files under {input_dir}")
    return pd.concat([pd.read_csv(path, dtype=str) for path in files], ignore_index=True)


def clean(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, rejected): numeric features per patient, and the rows that cannot be scored.

    A row is rejected when a measurement is missing or not a number, when its diagnosis is not
    one of `LABELS`, or when its patient ID was already seen. Raises InputError naming every
    required column that is absent.
    """
    frame = raw.rename(columns=column_name)
    missing = [name for name in (ID_COLUMN, *FEATURES) if name not in frame.columns]
    if missing:
        raise InputError(f"missing columns: {', '.join(missing)}")
    has_label = LABEL_COLUMN in frame.columns
    numbers = frame[list(FEATURES)].apply(pd.to_numeric, errors="coerce")
    reasons = pd.Series("", index=frame.index)
    bad_number = numbers.isna()
    for index in frame.index[bad_number.any(axis=1)]:
        reasons[index] = "not a number: " + ", ".join(numbers.columns[bad_number.loc[index]])
    if has_label:
        bad_label = ~frame[LABEL_COLUMN].isin(LABELS) & (reasons == "")
        reasons[bad_label] = f"{LABEL_COLUMN} is not one of {', '.join(LABELS)}"
    duplicate = frame[ID_COLUMN].duplicated() & (reasons == "")
    reasons[duplicate] = f"duplicate {ID_COLUMN}"
    blank_id = frame[ID_COLUMN].isna() & (reasons == "")
    reasons[blank_id] = f"missing {ID_COLUMN}"
    keep = reasons == ""
    features = pd.concat([frame.loc[keep, [ID_COLUMN]], numbers.loc[keep]], axis=1)
    if has_label:
        features[LABEL_COLUMN] = frame.loc[keep, LABEL_COLUMN]
    rejected = frame.loc[~keep].assign(reason=reasons[~keep])
    return features.reset_index(drop=True), rejected.reset_index(drop=True)


def run(input_dir: Path, features_dir: Path, rejected_dir: Path) -> tuple[int, int]:
    """Clean the patients under `input_dir`; return (kept, rejected) row counts."""
    features, rejected = clean(read_patients(input_dir))
    features_dir.mkdir(parents=True, exist_ok=True)
    rejected_dir.mkdir(parents=True, exist_ok=True)
    features.to_csv(features_dir / "features.csv", index=False)
    rejected.to_csv(rejected_dir / "rejected.csv", index=False)
    return len(features), len(rejected)


def main(argv: list[str] | None = None) -> int:
    """Command line of the processing job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", type=Path, default=PROCESSING_ROOT / "input" / "data")
    parser.add_argument("--features-dir", type=Path, default=PROCESSING_ROOT / "output" / "features")
    parser.add_argument("--rejected-dir", type=Path, default=PROCESSING_ROOT / "output" / "rejected")
    args = parser.parse_args(argv)
    try:
        kept, rejected = run(args.input_dir, args.features_dir, args.rejected_dir)
    except InputError as error:
        print(f"preprocessing: {error}", file=sys.stderr)
        return 1
    print(f"preprocessing: {kept} patients to score, {rejected} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
