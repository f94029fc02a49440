"""Preprocessing step: validate the raw CSV, impute, scale, one-hot encode and split it.

Runs as a SageMaker Processing job (`python3 preprocess.py`) on the XGBoost image and, unchanged,
on a developer machine (`PIPELINE_EXECUTION_MODE=local`). Layout, below `$SM_ML_ROOT` (default
`/opt/ml`):

- `processing/input/data/`: the raw data set (every non-hidden file, CSV);
- `processing/input/config/config.json`: the pipeline configuration: its `problem_type` and
  `dataset` section (see README.md);
- `processing/{train,validation,test}/<split>.csv`: outputs without header, label first (for
  classification the label is the class index: the position of its value in `dataset.classes`);
- `processing/features/features.json`: `{"feature_names": [...], "label": "...",
  "problem_type": "...", "classes": [...] | null}`, read by the training image and the evaluate step;
- `output/message`: the reason of a failure (SageMaker shows it as the job's exit message).

Numeric columns are median-imputed and standardized, categorical columns filled with their most
frequent value and one-hot encoded; every statistic is fitted on the training split only. The
split is a seeded shuffle, so the same data and seed always give the same three sets.

This file is uploaded to the job alone, so it imports nothing from the rest of the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SPLITS = ("train", "validation", "test")
REGRESSION = "regression"
BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
PROBLEM_TYPES = (REGRESSION, BINARY, MULTICLASS)
DATASET_KEYS = ("columns", "label", "classes", "categorical_columns", "has_header", "missing_values", "split", "seed")


class PreprocessError(Exception):
    """Bad configuration or input data; the message names the file, row, column, value or setting."""


@dataclass(frozen=True)
class DatasetConfig:
    """The `dataset` section of the pipeline configuration, with the configuration's `problem_type`."""

    columns: list[str]
    label: str
    problem_type: str = REGRESSION
    classes: list[str] | None = None
    categorical_columns: list[str] = field(default_factory=list)
    has_header: bool = False
    missing_values: list[str] = field(default_factory=lambda: [""])
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.7, "validation": 0.15, "test": 0.15})
    seed: int = 0

    @property
    def numeric_columns(self) -> list[str]:
        """Feature columns that are neither the label nor categorical, in file order."""
        excluded = {self.label, *self.categorical_columns}
        return [name for name in self.columns if name not in excluded]

    @property
    def is_classification(self) -> bool:
        """Whether the label is a class (binary or multiclass)."""
        return self.problem_type != REGRESSION

    @classmethod
    def from_dict(cls, section: object, problem_type: object = REGRESSION) -> DatasetConfig:
        """Build and validate the configuration; raise `PreprocessError` naming a bad setting."""
        if problem_type not in PROBLEM_TYPES:
            raise PreprocessError(f"'problem_type' must be one of {list(PROBLEM_TYPES)}, found {problem_type!r}")
        if not isinstance(section, dict):
            raise PreprocessError(f"the 'dataset' configuration must be an object, found {section!r}")
        unknown = sorted(set(section) - set(DATASET_KEYS))
        if unknown:
            raise PreprocessError(f"unknown 'dataset' settings {unknown}; known: {sorted(DATASET_KEYS)}")
        for required in ("columns", "label"):
            if required not in section:
                raise PreprocessError(f"the 'dataset' configuration lacks {required!r}")
        settings = dict(section)
        if settings.get("classes") is not None:
            settings["classes"] = _class_names(settings["classes"])
        config = cls(problem_type=str(problem_type), **settings)
        _check_columns(config)
        _check_classes(config)
        _check_reading(config)
        _check_split(config)
        return config


def _class_names(classes: object) -> list[str]:
    """`dataset.classes` as the strings the CSV holds (numbers are written as the CSV writes them)."""
    if not isinstance(classes, list) or not all(
        isinstance(value, (str, int, float)) and not isinstance(value, bool) for value in classes
    ):
        raise PreprocessError(f"'dataset.classes' must be a list of label values, found {classes!r}")
    names = [_number_text(value) if not isinstance(value, str) else value for value in classes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PreprocessError(f"'dataset.classes' names {duplicates} more than once")
    return names


def _number_text(value: float) -> str:
    """`1` for 1 and 1.0, `0.5` for 0.5: how a class given as a number is matched against the CSV."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _check_columns(config: DatasetConfig) -> None:
    columns = config.columns
    if not isinstance(columns, list) or len(columns) < 2 or not all(isinstance(name, str) and name for name in columns):
        raise PreprocessError(f"'dataset.columns' must list at least two non-empty column names, found {columns!r}")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise PreprocessError(f"'dataset.columns' names {duplicates} more than once")
    if config.label not in columns:
        raise PreprocessError(f"'dataset.label' {config.label!r} is not one of the columns {columns}")
    if not isinstance(config.categorical_columns, list):
        raise PreprocessError(f"'dataset.categorical_columns' must be a list, found {config.categorical_columns!r}")
    for name in config.categorical_columns:
        if name not in columns:
            raise PreprocessError(f"'dataset.categorical_columns': {name!r} is not one of the columns {columns}")
        if name == config.label:
            raise PreprocessError(f"'dataset.categorical_columns': the label {name!r} cannot be a feature")


def _check_classes(config: DatasetConfig) -> None:
    classes = config.classes
    if config.problem_type == REGRESSION:
        if classes is not None:
            raise PreprocessError("'dataset.classes' applies to classification; problem_type is regression")
        return
    if classes is None:
        raise PreprocessError(
            f"'dataset.classes' must list the label values for problem_type {config.problem_type} "
            "(the class index of a value is its position in the list)"
        )
    if config.problem_type == BINARY and len(classes) != 2:
        raise PreprocessError(
            f"'dataset.classes' must hold exactly 2 values for binary_classification "
            f"([negative, positive]), found {classes}"
        )
    if config.problem_type == MULTICLASS and len(classes) < 3:
        raise PreprocessError(
            f"'dataset.classes' must hold at least 3 values for multiclass_classification, found {classes} "
            "(two classes: use binary_classification)"
        )


def _check_reading(config: DatasetConfig) -> None:
    if not isinstance(config.has_header, bool):
        raise PreprocessError(f"'dataset.has_header' must be true or false, found {config.has_header!r}")
    if not isinstance(config.missing_values, list) or not all(
        isinstance(token, str) for token in config.missing_values
    ):
        raise PreprocessError(f"'dataset.missing_values' must be a list of strings, found {config.missing_values!r}")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise PreprocessError(f"'dataset.seed' must be a non-negative integer, found {config.seed!r}")


def _check_split(config: DatasetConfig) -> None:
    split = config.split
    if not isinstance(split, dict) or set(split) != set(SPLITS):
        raise PreprocessError(f"'dataset.split' must give fractions for exactly {list(SPLITS)}, found {split!r}")
    for name, fraction in split.items():
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise PreprocessError(f"'dataset.split.{name}' = {fraction!r} must be between 0 and 1")
    if not math.isclose(sum(split.values()), 1.0, abs_tol=1e-9):
        raise PreprocessError(
            f"'dataset.split' fractions {split} must add up to 1, they add up to {sum(split.values())}"
        )


def load_config(path: str | Path) -> DatasetConfig:
    """Read the pipeline configuration file and return its validated dataset settings."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError as error:
        raise PreprocessError(f"configuration file {path} not found") from error
    except json.JSONDecodeError as error:
        raise PreprocessError(f"configuration file {path} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or "dataset" not in document:
        raise PreprocessError(f"configuration file {path} has no 'dataset' section")
    return DatasetConfig.from_dict(document["dataset"], document.get("problem_type", REGRESSION))


def read_dataset(input_dir: Path, config: DatasetConfig) -> pd.DataFrame:
    """Read every data file under `input_dir` into one frame with typed columns.

    Numeric columns become floats (missing tokens become NaN); categorical columns stay strings
    (missing tokens become NaN); a classification label becomes its class index. Raises
    `PreprocessError` on an empty or malformed file.
    """
    files = sorted(
        path
        for path in input_dir.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(input_dir).parts)
    )
    if not files:
        raise PreprocessError(f"no input data file found in {input_dir}")
    rows: list[list[str]] = []
    origins: list[tuple[Path, int]] = []
    for path in files:
        for line_number, row in _read_rows(path, config):
            rows.append(row)
            origins.append((path, line_number))
    if not rows:
        raise PreprocessError(f"the input data in {input_dir} holds no data rows")
    raw = pd.DataFrame(rows, columns=config.columns, dtype=object)
    missing = raw.isin(config.missing_values)
    frame = pd.DataFrame(index=raw.index)
    for name in config.columns:
        if name == config.label:
            frame[name] = _label_values(raw[name], missing[name], config, origins)
        elif name in config.categorical_columns:
            frame[name] = raw[name].where(~missing[name], np.nan)
        else:
            frame[name] = _numeric_values(raw[name], missing[name], name, origins)
    return frame


def _numeric_values(raw: pd.Series, missing: pd.Series, name: str, origins: list[tuple[Path, int]]) -> pd.Series:
    values = pd.to_numeric(raw.where(~missing, np.nan), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        path, line_number = origins[index]
        raise PreprocessError(
            f"{path}, line {line_number}: column {name!r} holds the non-numeric value {raw.iat[index]!r}"
        )
    if np.isinf(values).any():
        index = int(np.flatnonzero(np.isinf(values).to_numpy())[0])
        path, line_number = origins[index]
        raise PreprocessError(
            f"{path}, line {line_number}: column {name!r} holds the non-finite value {raw.iat[index]!r}"
        )
    return values.astype(float)


def _label_values(
    raw: pd.Series, missing: pd.Series, config: DatasetConfig, origins: list[tuple[Path, int]]
) -> pd.Series:
    """The label as a number: the value itself (regression) or its class index (classification)."""
    if missing.any():
        path, line_number = origins[int(np.flatnonzero(missing.to_numpy())[0])]
        raise PreprocessError(f"{path}, line {line_number}: the label {config.label!r} is missing")
    if not config.is_classification:
        return _numeric_values(raw, missing, config.label, origins)
    assert config.classes is not None
    index = {name: position for position, name in enumerate(config.classes)}
    numeric_index = {float(name): position for name, position in index.items() if _is_number(name)}
    codes = []
    for row, value in enumerate(raw):
        code = index.get(value)
        if code is None and _is_number(value):
            code = numeric_index.get(float(value))
        if code is None:
            path, line_number = origins[row]
            raise PreprocessError(
                f"{path}, line {line_number}: label {config.label!r} holds {value!r}, "
                f"which is not one of 'dataset.classes' {config.classes}"
            )
        codes.append(float(code))
    return pd.Series(codes, index=raw.index, dtype=float)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _read_rows(path: Path, config: DatasetConfig) -> Iterator[tuple[int, list[str]]]:
    """Yield `(line_number, fields)` for each non-blank data row, checking the column count."""
    expected = len(config.columns)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header_pending = config.has_header
            for row in reader:
                if not row or all(not value.strip() for value in row):
                    continue
                if header_pending:
                    header_pending = False
                    continue
                if len(row) != expected:
                    raise PreprocessError(
                        f"{path}, line {reader.line_num}: expected {expected} columns "
                        f"({', '.join(config.columns)}), found {len(row)}"
                    )
                yield reader.line_num, [value.strip() for value in row]
    except UnicodeDecodeError as error:
        raise PreprocessError(f"{path} is not UTF-8 text: {error}") from error
    except csv.Error as error:
        raise PreprocessError(f"{path} is not valid CSV: {error}") from error


def split_rows(frame: pd.DataFrame, config: DatasetConfig) -> dict[str, pd.DataFrame]:
    """Shuffle with the configured seed and cut into train/validation/test by the fractions."""
    count = len(frame)
    order = np.random.default_rng(config.seed).permutation(count)
    train_end = int(config.split["train"] * count)
    validation_end = train_end + int(config.split["validation"] * count)
    parts = dict(zip(SPLITS, np.split(order, [train_end, validation_end]), strict=True))
    for name, indices in parts.items():
        if len(indices) == 0:
            raise PreprocessError(
                f"{count} data rows are too few for the split {config.split}: the {name} set is empty"
            )
    return {name: frame.iloc[indices].reset_index(drop=True) for name, indices in parts.items()}


def fit_transform(splits: dict[str, pd.DataFrame], config: DatasetConfig) -> tuple[dict[str, np.ndarray], list[str]]:
    """Fit the feature transformation on the training split and apply it to all three.

    Returns, per split, a matrix whose first column is the label, and the feature names.
    """
    train = splits["train"]
    for name in config.numeric_columns:
        if train[name].isna().all():
            raise PreprocessError(f"numeric column {name!r} has no value in the training split")
    for name in config.categorical_columns:
        if train[name].isna().all():
            raise PreprocessError(f"categorical column {name!r} has no value in the training split")
    if config.is_classification and train[config.label].nunique() < 2:
        raise PreprocessError(f"the training split holds a single class of {config.label!r}: too few rows")
    transformer = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), config.numeric_columns),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                config.categorical_columns,
            ),
        ],
        sparse_threshold=0,
        verbose_feature_names_out=False,
    )
    transformer.fit(train)
    feature_names = [str(name) for name in transformer.get_feature_names_out()]
    matrices = {
        name: np.column_stack([part[config.label].to_numpy(dtype=float), transformer.transform(part)])
        for name, part in splits.items()
    }
    return matrices, feature_names


def feature_description(config: DatasetConfig, feature_names: list[str]) -> dict[str, Any]:
    """What `features/features.json` holds: the training image reads the names, evaluation the rest."""
    return {
        "feature_names": feature_names,
        "label": config.label,
        "problem_type": config.problem_type,
        "classes": config.classes,
    }


def run(base_dir: Path, config_path: Path) -> dict[str, int]:
    """Execute the step below `base_dir`; return the row count of each split."""
    config = load_config(config_path)
    frame = read_dataset(base_dir / "input" / "data", config)
    matrices, feature_names = fit_transform(split_rows(frame, config), config)
    for name, matrix in matrices.items():
        directory = base_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        np.savetxt(directory / f"{name}.csv", matrix, delimiter=",", fmt="%.10g")
    features_dir = base_dir / "features"
    features_dir.mkdir(parents=True, exist_ok=True)
    (features_dir / "features.json").write_text(json.dumps(feature_description(config, feature_names), indent=2) + "\n")
    return {name: len(matrix) for name, matrix in matrices.items()}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    ml_root = Path(os.environ.get("SM_ML_ROOT", "/opt/ml"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base-dir", type=Path, default=ml_root / "processing")
    parser.add_argument("--config", type=Path, default=None, help="default: <base-dir>/input/config/config.json")
    args = parser.parse_args(argv)
    config_path = args.config or args.base_dir / "input" / "config" / "config.json"
    try:
        counts = run(args.base_dir, config_path)
    except PreprocessError as error:
        return _fail(ml_root, f"preprocess failed: {error}")
    except Exception as error:  # every failure must reach output/message, without a backtrace
        first_line = (str(error).strip().splitlines() or [""])[0]
        return _fail(ml_root, f"preprocess failed with an unexpected error: {type(error).__name__}: {first_line}")
    print("preprocess: wrote " + ", ".join(f"{name}={count} rows" for name, count in counts.items()))
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
