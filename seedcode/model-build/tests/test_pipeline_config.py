"""config.json: every data-specific setting, validated at once with the key at fault named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pipelines.abalone import pipeline_config
from pipelines.abalone.pipeline_config import ConfigError, SpotTraining, load_pipeline_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIG_PATH = Path(__file__).resolve().parents[1] / "pipelines" / "abalone" / "config.json"


def edited(document: dict, change) -> dict:
    copied = copy.deepcopy(document)
    change(copied)
    return copied


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.pop("hyperparameters"), "missing settings ['hyperparameters']"),
        (lambda c: c.pop("quality_gate"), "missing settings ['quality_gate']"),
        (lambda c: c.update(metrics={}), "unknown settings ['metrics']"),
        (lambda c: c.update(input_data=""), "'input_data' must be a non-empty string"),
        (lambda c: c.update(problem_type="ranking"), "'problem_type' must be one of"),
        (lambda c: c["hyperparameters"].pop("num_round"), "'hyperparameters' must be an object that sets num_round"),
        (lambda c: c["hyperparameters"].update(eta=[0.1]), "'hyperparameters.eta' = [0.1] must be"),
        (lambda c: c["hyperparameters"].update(objective="binary:logistic"), "'hyperparameters.objective'"),
        (lambda c: c["hyperparameters"].update(num_class=3), "'hyperparameters.num_class' applies to multiclass"),
        (lambda c: c["dataset"].update(label="age"), "'dataset.label' 'age' is not one of the columns"),
        (
            lambda c: c["dataset"].update(split={"train": 0.7, "validation": 0.2, "test": 0.2}),
            "'dataset.split' fractions",
        ),
        (
            lambda c: c["quality_gate"].update(metric="accuracy"),
            "'quality_gate.metric' = 'accuracy' is not a regression",
        ),
        (lambda c: c["quality_gate"].update(metric="auc"), "('auc' is a binary_classification / multiclass"),
        (lambda c: c["quality_gate"].update(metric="msle"), "'quality_gate.metric' = 'msle'"),
        (lambda c: c.update(quality_gate={"metric": "mse", "min": 1.0}), "'quality_gate.min': lower mse is better"),
        (lambda c: c.update(quality_gate={"metric": "mse"}), "exactly one of 'min' or 'max'"),
        (lambda c: c.update(quality_gate={"metric": "mse", "max": "6"}), "'quality_gate.max' must be a number"),
        (lambda c: c["tuning"].update(max_trials=0), "'tuning.max_trials' must be an integer from 1 to 500"),
        (lambda c: c["tuning"].update(max_parallel_trials=50), "'tuning.max_parallel_trials' (50) exceeds"),
        (lambda c: c["tuning"].update(strategy="Hyperband"), "'tuning.strategy' = 'Hyperband'"),
        (lambda c: c["tuning"].update(enabled="yes"), "'tuning.enabled' must be true or false"),
        (lambda c: c["tuning"].update(ranges={}), "'tuning.ranges' must map at least one"),
        (lambda c: c["tuning"]["ranges"].update(eta={"min": 0.3, "max": 0.1}), "'tuning.ranges.eta': 'min' and 'max'"),
        (lambda c: c["tuning"]["ranges"].update(gamma={"min": 0, "max": 5, "scaling": "Logarithmic"}), "min > 0"),
        (lambda c: c["tuning"]["ranges"].update(max_depth={"min": 2.5, "max": 8, "type": "integer"}), "whole-number"),
        (lambda c: c["tuning"]["ranges"].update(objective={"values": ["a", "b"]}), "'tuning.ranges.objective'"),
        (lambda c: c["tuning"]["ranges"].update(booster={"values": ["gbtree"]}), "at least two values"),
    ],
)
def test_bad_configuration_fails_at_once_naming_the_key(pipeline_config, change, expected):
    with pytest.raises(ConfigError) as raised:
        parse_config(edited(pipeline_config, change))
    assert expected in str(raised.value)


def test_the_error_names_the_file(tmp_path, pipeline_config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(edited(pipeline_config, lambda c: c["dataset"].update(label="age"))))
    with pytest.raises(ConfigError, match=rf"^{path}: 'dataset.label'"):
        load_pipeline_config(path)


def test_seed_configuration_is_the_abalone_regression(pipeline_config):
    config = parse_config(pipeline_config)
    assert (config.problem_type, config.quality_gate.describe(), config.metric_json_path) == (
        "regression",
        "mse <= 6",
        "regression_metrics.mse.value",
    )
    assert config.tuning is not None and not config.tuning_enabled()
    assert config.tuning.objective_metric == "validation:rmse" and config.tuning.objective_type == "Minimize"


def test_classification_derives_objective_num_class_and_eval_metric():
    binary = load_pipeline_config(EXAMPLES / "breast_cancer" / "config.json")
    assert binary.hyperparameters["objective"] == "binary:logistic" and binary.eval_metric == "auc"
    assert binary.quality_gate.passes(0.95) and not binary.quality_gate.passes(0.9499)
    regression = parse_config(json.loads((EXAMPLES / "diabetes" / "config.json").read_text())).quality_gate
    assert regression.passes(70) and not regression.passes(70.01)
    multiclass = load_pipeline_config(EXAMPLES / "wine" / "config.json")
    assert multiclass.hyperparameters["num_class"] == "3" and multiclass.eval_metric == "mlogloss"
    document = json.loads((EXAMPLES / "wine" / "config.json").read_text())
    document["hyperparameters"]["num_class"] = 4
    with pytest.raises(ConfigError, match="'hyperparameters.num_class' = 4 disagrees with the 3 'dataset.classes'"):
        parse_config(document)
    document["hyperparameters"].update(num_class=3, objective="multi:softmax")
    with pytest.raises(ConfigError, match="needs 'multi:softprob'"):
        parse_config(document)


def test_a_gate_for_the_wrong_problem_type_is_named():
    document = json.loads((EXAMPLES / "breast_cancer" / "config.json").read_text())
    document["quality_gate"] = {"metric": "rmse", "max": 1}
    with pytest.raises(ConfigError, match="'quality_gate.metric' = 'rmse' is not a binary_classification metric"):
        parse_config(document)


def test_tuning_asked_for_without_a_tuning_section_is_an_error(pipeline_config):
    config = parse_config(edited(pipeline_config, lambda c: c.pop("tuning")))
    assert not config.tuning_enabled()
    with pytest.raises(ConfigError, match="no 'tuning' section"):
        config.tuning_enabled(True)


def test_maximized_validation_metrics_are_maximized():
    assert (
        pipeline_config.parse_tuning(
            {"max_trials": 2, "max_parallel_trials": 1, "ranges": {"eta": {"min": 0.1, "max": 0.2}}}, "auc"
        ).objective_type
        == "Maximize"
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": "yes"}, "'spot_training.enabled' must be true or false"),
        ({"max_run_seconds": 0}, "'spot_training.max_run_seconds' must be an integer from 1 to 2419200"),
        ({"max_run_seconds": 3600, "max_wait_seconds": 600}, "must be at least 'spot_training.max_run_seconds'"),
        ({"checkpoints": True}, "unknown 'spot_training' settings \\['checkpoints'\\]"),
    ],
)
def test_spot_training_settings_are_checked(section, message):
    document = json.loads(CONFIG_PATH.read_text())
    document["spot_training"] = section
    with pytest.raises(ConfigError, match=message):
        parse_config(document)


def test_spot_training_is_off_unless_configured():
    document = json.loads(CONFIG_PATH.read_text())
    assert parse_config(document).spot_training.enabled is False
    del document["spot_training"]
    assert parse_config(document).spot_training == SpotTraining()
