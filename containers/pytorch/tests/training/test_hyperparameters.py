"""Hyperparameters arrive as strings; each is typed, range- or choice-checked, and a bad one is named."""

from __future__ import annotations

import pytest

from pytorch_container import hyperparameters
from pytorch_container.errors import TrainingError
from pytorch_container.hyperparameters import Hyperparameters


def test_strings_are_converted_to_their_types() -> None:
    parsed = hyperparameters.parse(
        {"epochs": "3", "learning_rate": "0.01", "arch": "ResNet18", "device": "CPU", "batch_size": " 32 "}
    )
    assert parsed.epochs == 3 and parsed.learning_rate == 0.01 and parsed.batch_size == 32
    assert parsed.arch == "resnet18" and parsed.device == "cpu"
    assert parsed.weight_decay == Hyperparameters().weight_decay


def test_auto_is_accepted_for_the_settings_decided_at_run_time() -> None:
    parsed = hyperparameters.parse(
        {"image_size": "auto", "processes_per_host": "auto", "data_workers": "auto", "max_shift_pixels": "auto"}
    )
    assert (parsed.image_size, parsed.processes_per_host, parsed.data_workers, parsed.max_shift_pixels) == (
        0,
        0,
        -1,
        -1,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epoch": "3"}, r"unsupported hyperparameters \['epoch'\]"),
        ({"epochs": "three"}, r"epochs='three' is not an integer"),
        ({"epochs": "2.5"}, r"epochs='2.5' is not an integer"),
        ({"epochs": "0"}, r"epochs='0' must be between 1 and 10000"),
        ({"learning_rate": "nan"}, r"learning_rate='nan' must be between"),
        ({"learning_rate": "fast"}, r"learning_rate='fast' is not a number"),
        ({"arch": "vgg"}, r"arch='vgg' must be one of \['cnn', 'resnet18'\]"),
        ({"device": "tpu"}, r"device='tpu' must be one of"),
        ({"mixed_precision": "fp8"}, r"mixed_precision='fp8' must be one of"),
        ({"epochs": True}, r"epochs=True must be a string"),
        ({"epochs": ["3"]}, r"epochs=\['3'\] must be a string"),
    ],
)
def test_a_bad_value_is_named(values: dict, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        hyperparameters.parse(values)


def test_the_file_ignores_sdk_keys_and_is_optional(tmp_path) -> None:
    path = tmp_path / "hyperparameters.json"
    assert hyperparameters.read(path) == Hyperparameters()
    path.write_text('{"epochs": "4", "sagemaker_program": "x", "_tuning_objective_metric": "acc"}')
    assert hyperparameters.read(path).epochs == 4
    path.write_text("[1]")
    with pytest.raises(TrainingError, match="must hold a JSON object, found list"):
        hyperparameters.read(path)
    path.write_text("{epochs: 4}")
    with pytest.raises(TrainingError, match="is not valid JSON"):
        hyperparameters.read(path)


def test_the_fingerprint_leaves_out_what_may_change_between_attempts_of_a_job() -> None:
    base = Hyperparameters()
    moved = hyperparameters.parse({"device": "cpu", "processes_per_host": "2", "data_workers": "1"})
    assert moved.fingerprint() == base.fingerprint()
    assert hyperparameters.parse({"epochs": "5"}).fingerprint() != base.fingerprint()
