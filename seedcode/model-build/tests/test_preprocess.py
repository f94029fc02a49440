"""The preprocess step on small generated data: outputs, transformations and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pipelines.abalone import preprocess

GOOD_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15"
FEATURES = [
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
    "sex_F",
    "sex_I",
    "sex_M",
]


def run_main(root: Path, monkeypatch) -> int:
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    return preprocess.main([])


def load(root: Path, split: str) -> np.ndarray:
    return np.loadtxt(root / "processing" / split / f"{split}.csv", delimiter=",", ndmin=2)


def test_writes_seeded_70_15_15_split_with_label_first(processing_root, make_rows, monkeypatch):
    root = processing_root(make_rows(200))
    assert run_main(root, monkeypatch) == 0
    train, validation, test = (load(root, name) for name in preprocess.SPLITS)
    assert (len(train), len(validation), len(test)) == (140, 30, 30)
    assert all(part.shape[1] == 1 + len(FEATURES) for part in (train, validation, test))
    features = json.loads((root / "processing" / "features" / "features.json").read_text())
    assert features == {"feature_names": FEATURES, "label": "rings", "problem_type": "regression", "classes": None}
    # Label first and untouched: integer ring counts.
    assert np.all(train[:, 0] == np.round(train[:, 0])) and train[:, 0].min() >= 1
    # One-hot sex: exactly one of the three columns set.
    assert np.all(train[:, 8:11].sum(axis=1) == 1)
    # Numeric columns standardized on the training split.
    np.testing.assert_allclose(train[:, 1:8].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(train[:, 1:8].std(axis=0), 1, atol=1e-6)


def test_same_seed_same_split_other_seed_other_split(processing_root, make_rows, pipeline_config):
    config = preprocess.DatasetConfig.from_dict(pipeline_config["dataset"])
    root = processing_root(make_rows(100))
    frame = preprocess.read_dataset(root / "processing" / "input" / "data", config)
    first = preprocess.split_rows(frame, config)["test"]
    again = preprocess.split_rows(frame, config)["test"]
    other = preprocess.split_rows(frame, preprocess.DatasetConfig.from_dict({**pipeline_config["dataset"], "seed": 7}))[
        "test"
    ]
    assert first.equals(again)
    assert not first.equals(other)


def test_missing_values_are_imputed_with_the_training_median(processing_root, make_rows, pipeline_config):
    lines = make_rows(60)
    lines[0] = ",".join(["", "", *lines[0].split(",")[2:]])  # sex and length missing
    config = preprocess.DatasetConfig.from_dict(pipeline_config["dataset"])
    root = processing_root(lines)
    frame = preprocess.read_dataset(root / "processing" / "input" / "data", config)
    assert np.isnan(frame.loc[0, "length"]) and frame["sex"].isna().sum() == 1
    matrices, _ = preprocess.fit_transform({"train": frame, "validation": frame, "test": frame}, config)
    assert not np.isnan(matrices["train"]).any()
    # The imputed length is the median, which scales to the scaled median of the others.
    scaled_median = np.median(matrices["train"][1:, 1])
    assert matrices["train"][0, 1] == pytest.approx(scaled_median, abs=1e-9)


def test_header_row_is_skipped_when_configured(processing_root, make_rows, pipeline_config, monkeypatch):
    pipeline_config["dataset"]["has_header"] = True
    header = ",".join(pipeline_config["dataset"]["columns"])
    root = processing_root([header, *make_rows(40)], pipeline_config)
    assert run_main(root, monkeypatch) == 0
    assert len(load(root, "train")) == 28


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["M,0.1,0.2"], "line 1: expected 9 columns (sex, length"),
        ([GOOD_ROW] * 5 + ["M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,9,extra"], "line 6: expected 9 columns"),
        (
            [GOOD_ROW] * 3 + ["F,0.4,abc,0.1,0.5,0.2,0.1,0.15,9"],
            "line 4: column 'diameter' holds the non-numeric value 'abc'",
        ),
        ([GOOD_ROW] * 3 + ["F,0.4,0.3,0.1,0.5,0.2,0.1,0.15,"], "line 4: the label 'rings' is missing"),
        (
            [GOOD_ROW] * 3 + ["F,0.4,inf,0.1,0.5,0.2,0.1,0.15,9"],
            "line 4: column 'diameter' holds the non-finite value 'inf'",
        ),
        ([GOOD_ROW] * 4 + ["F,0.4,0.3,0.1,0.5,0.2,0.1,0.15,-Infinity"], "column 'rings' holds the non-finite value"),
        ([], "holds no data rows"),
        ([GOOD_ROW] * 3, "too few for the split"),
    ],
    ids=[
        "short-row",
        "long-row",
        "non-numeric",
        "missing-label",
        "infinite-feature",
        "infinite-label",
        "empty-file",
        "too-few-rows",
    ],
)
def test_bad_input_fails_with_a_message_naming_the_problem(processing_root, monkeypatch, capsys, lines, expected):
    root = processing_root(lines)
    assert run_main(root, monkeypatch) == 1
    message = (root / "output" / "message").read_text()
    assert expected in message
    assert message.startswith("preprocess failed: ")
    assert expected in capsys.readouterr().err


def test_an_unexpected_failure_still_writes_the_message(processing_root, make_rows, monkeypatch, capsys):
    root = processing_root(make_rows(40))

    def explode(*args, **kwargs):
        raise MemoryError("cannot allocate\n  at frame 1")

    monkeypatch.setattr(preprocess, "fit_transform", explode)
    assert run_main(root, monkeypatch) == 1
    assert (root / "output" / "message").read_text().strip() == (
        "preprocess failed with an unexpected error: MemoryError: cannot allocate"
    )


def test_missing_input_directory_fails(tmp_path, monkeypatch, pipeline_config):
    config_dir = tmp_path / "processing" / "input" / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "config.json").write_text(json.dumps(pipeline_config))
    (tmp_path / "processing" / "input" / "data").mkdir()
    assert run_main(tmp_path, monkeypatch) == 1
    assert "no input data file found" in (tmp_path / "output" / "message").read_text()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"label": "age"}, "'dataset.label' 'age' is not one of the columns"),
        ({"categorical_columns": ["colour"]}, "'dataset.categorical_columns': 'colour' is not one of the columns"),
        ({"categorical_columns": ["rings"]}, "the label 'rings' cannot be a feature"),
        ({"split": {"train": 0.8, "validation": 0.15, "test": 0.15}}, "'dataset.split' fractions"),
        ({"split": {"train": 0.7, "test": 0.3}}, "exactly ['train', 'validation', 'test']"),
        ({"columns": ["a", "a", "rings"]}, "'dataset.columns' names ['a'] more than once"),
        ({"seed": "1"}, "'dataset.seed' must be a non-negative integer"),
        ({"seed": -1}, "'dataset.seed' must be a non-negative integer, found -1"),
        ({"sep": ";"}, "unknown 'dataset' settings ['sep']"),
    ],
)
def test_invalid_dataset_configuration_is_rejected(pipeline_config, change, expected):
    with pytest.raises(preprocess.PreprocessError) as raised:
        preprocess.DatasetConfig.from_dict({**pipeline_config["dataset"], **change})
    assert expected in str(raised.value)


def test_another_data_set_is_configuration_only(processing_root, monkeypatch):
    """A data set with other columns, label and categories runs through the unchanged script."""
    rng = np.random.default_rng(3)
    lines = [
        f"{c},{x:.3f},{y:.3f},{2 * x + y:.3f}"
        for c, x, y in zip(rng.choice(["red", "blue"], 50), rng.normal(size=50), rng.normal(size=50), strict=True)
    ]
    config = {
        "dataset": {"columns": ["colour", "x", "y", "target"], "label": "target", "categorical_columns": ["colour"]}
    }
    root = processing_root(lines, config, file_name="other.csv")
    assert run_main(root, monkeypatch) == 0
    features = json.loads((root / "processing" / "features" / "features.json").read_text())
    assert features["feature_names"] == ["x", "y", "colour_blue", "colour_red"] and features["label"] == "target"


@pytest.mark.parametrize(
    ("problem_type", "classes", "expected"),
    [
        ("binary_classification", None, "'dataset.classes' must list the label values"),
        ("binary_classification", ["M", "F", "I"], "exactly 2 values"),
        ("multiclass_classification", ["M", "F"], "at least 3 values"),
        ("regression", ["M", "F"], "'dataset.classes' applies to classification"),
        ("multiclass_classification", ["M", "M", "F"], "'dataset.classes' names ['M'] more than once"),
        ("ordinal", None, "'problem_type' must be one of"),
    ],
)
def test_invalid_classification_settings_are_rejected(pipeline_config, problem_type, classes, expected):
    section = {**pipeline_config["dataset"], "label": "sex", "categorical_columns": []}
    if classes is not None:
        section["classes"] = classes
    with pytest.raises(preprocess.PreprocessError) as raised:
        preprocess.DatasetConfig.from_dict(section, problem_type)
    assert expected in str(raised.value)


def test_classification_label_becomes_its_class_index(processing_root, make_rows, monkeypatch):
    """Abalone's sex as a three-class label in the first column: index = position in `classes`."""
    document = {
        "problem_type": "multiclass_classification",
        "dataset": {
            "columns": ["sex", "length", "diameter", "height", "whole", "shucked", "viscera", "shell", "rings"],
            "label": "sex",
            "classes": ["I", "F", "M"],
        },
    }
    lines = make_rows(120)
    root = processing_root(lines, document)
    assert run_main(root, monkeypatch) == 0
    features = json.loads((root / "processing" / "features" / "features.json").read_text())
    assert features["classes"] == ["I", "F", "M"] and features["problem_type"] == "multiclass_classification"
    assert len(features["feature_names"]) == 8  # seven measurements and the ring count
    labels = np.concatenate([load(root, name)[:, 0] for name in preprocess.SPLITS])
    expected = sorted({"I": 0, "F": 1, "M": 2}[line.split(",")[0]] for line in lines)
    assert sorted(labels.astype(int).tolist()) == expected


def test_numeric_classes_match_the_file_s_numbers(processing_root):
    """`"classes": [0, 1]` matches the file's `0.0` and `1`, and `1` is the positive class."""
    rng = np.random.default_rng(5)
    values = rng.normal(size=60)
    lines = [f"{x:.3f},{'1' if x > 0 else '0.0'}" for x in values]
    config = preprocess.DatasetConfig.from_dict(
        {"columns": ["x", "label"], "label": "label", "classes": [0, 1]}, "binary_classification"
    )
    frame = preprocess.read_dataset(processing_root(lines) / "processing" / "input" / "data", config)
    np.testing.assert_array_equal(frame["label"].to_numpy(), (values > 0).astype(float))


def test_a_label_value_outside_the_classes_is_named(processing_root, make_rows, monkeypatch):
    document = {
        "problem_type": "binary_classification",
        "dataset": {
            "columns": ["sex", "length", "diameter", "height", "whole", "shucked", "viscera", "shell", "rings"],
            "label": "sex",
            "classes": ["M", "F"],
        },
    }
    root = processing_root(["M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,9", "X,0.4,0.3,0.1,0.5,0.2,0.1,0.15,9"], document)
    assert run_main(root, monkeypatch) == 1
    message = (root / "output" / "message").read_text()
    assert "line 2: label 'sex' holds 'X', which is not one of 'dataset.classes' ['M', 'F']" in message
