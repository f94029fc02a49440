"""The bundled example data sets: exactly scikit-learn's copies, each with a valid configuration."""

from __future__ import annotations

import csv
import json

import pytest
from examples import bundled
from pipelines.abalone.pipeline_config import load_pipeline_config

ABALONE = {"label_position": 8, "features": 10}


@pytest.mark.parametrize("name", sorted(bundled.EXAMPLES))
def test_bundled_csv_is_what_scikit_learn_ships(name):
    assert (bundled.HERE / name / "data.csv").read_text() == bundled.render(bundled.EXAMPLES[name]())


@pytest.mark.parametrize(
    ("name", "problem_type", "label_position"),
    [
        ("diabetes", "regression", 0),
        ("breast_cancer", "binary_classification", 0),
        ("wine", "multiclass_classification", 7),
    ],
)
def test_example_configuration_describes_its_file(name, problem_type, label_position):
    config = load_pipeline_config(bundled.HERE / name / "config.json")
    assert config.problem_type == problem_type
    dataset = config.dataset
    assert dataset.columns.index(dataset.label) == label_position != ABALONE["label_position"]
    with (bundled.HERE / name / "data.csv").open() as handle:
        rows = list(csv.reader(handle))
    if dataset.has_header:
        assert [column.replace("/", "_") for column in rows.pop(0)] == dataset.columns
    assert {len(row) for row in rows} == {len(dataset.columns)}
    if dataset.classes:
        assert {row[label_position] for row in rows} == set(dataset.classes)
    assert json.loads((bundled.HERE / name / "config.json").read_text())["input_data"].startswith("s3://")
