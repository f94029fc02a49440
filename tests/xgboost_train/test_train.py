"""The training entrypoint (`xgboost-train`) on generated data: success, device choice and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost

from xgboost_container import model_format, train

from .conftest import SEED_HYPERPARAMETERS, TrainingJob, regression_data


def test_trains_and_saves_the_contract_artifact(job):
    job.features(["a", "b", "c", "d"], label="rings")
    assert train.main() == 0
    assert not job.failure.exists()
    booster, metadata = model_format.load_model(job.model)
    assert metadata == model_format.ModelMetadata(["a", "b", "c", "d"], 4, "rings", "reg:squarederror")
    assert sorted(p.name for p in job.model.iterdir()) == ["xgboost-model"]
    assert booster.num_boosted_rounds() == 50
    test = regression_data(100, seed=2)
    mse = float(np.mean((test[:, 0] - booster.predict(xgboost.DMatrix(test[:, 1:]))) ** 2))
    assert mse < 0.25 * np.var(test[:, 0])  # learned the signal


def test_runs_as_the_console_module_with_the_sagemaker_layout(job):
    """The same module the image's `train` command runs, in a fresh process: logs and exit status."""
    result = subprocess.run(
        [sys.executable, "-m", "xgboost_container.train"],
        env={**os.environ, "SM_ML_ROOT": str(job.root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "INFO xgboost_container.train: training on " in result.stderr
    assert "[49]\ttrain-rmse:" in result.stdout and "validation-rmse:" in result.stdout
    assert "no 'features' channel: naming the 4 features f0..f3" in result.stderr
    _, metadata = model_format.load_model(job.model)
    assert metadata.feature_names == ["f0", "f1", "f2", "f3"] and metadata.label == "label"


def test_reads_every_file_of_a_channel_and_ignores_hidden_ones(job):
    job.channel("train", regression_data(50, seed=5), file_name="part-1.csv")
    job.channel("train", "not,a,csv\n", file_name=".manifest")
    assert train.main() == 0


def test_sdk_and_tuning_hyperparameters_are_ignored(job):
    job.hyperparameters(
        {
            **SEED_HYPERPARAMETERS,
            "_tuning_objective_metric": "validation:rmse",
            "sagemaker_container_log_level": "20",
            "early_stopping_rounds": "3",
        }
    )
    assert train.main() == 0
    booster, _ = model_format.load_model(job.model)
    assert booster.num_boosted_rounds() <= 50


@pytest.mark.parametrize(
    ("requested", "cuda_build", "gpus", "expected"),
    [
        ("auto", True, 2, ("cuda", "2 NVIDIA GPU(s) visible and XGBoost built with CUDA")),
        ("auto", True, 0, ("cpu", "no NVIDIA GPU visible")),
        ("auto", False, 1, ("cpu", "1 GPU(s) visible but this XGBoost build has no CUDA support")),
        ("cpu", True, 4, ("cpu", "device=cpu requested")),
        ("cuda", True, 1, ("cuda", "device=cuda requested, 1 GPU(s) visible")),
    ],
)
def test_device_is_chosen_at_run_time(requested, cuda_build, gpus, expected):
    assert train.select_device(requested, has_cuda_build=cuda_build, gpu_count=gpus) == expected


def test_visible_gpus_counts_the_driver_entries(tmp_path):
    assert train.visible_gpus(tmp_path / "absent") == 0
    for bus_id in ("0000:00:1e.0", "0000:00:1f.0"):
        (tmp_path / bus_id).mkdir()
    assert train.visible_gpus(tmp_path) == 2


def test_the_device_decision_is_logged(job, caplog):
    caplog.set_level("INFO", logger="xgboost_container.train")
    assert train.main() == 0
    expected = "cuda" if train.cuda_build() and train.visible_gpus() else "cpu"
    assert any(r.getMessage().startswith(f"training on {expected}: ") for r in caplog.records)


def with_hyperparameters(**changes: str):
    """A breakage: the seed hyperparameters with `changes`."""
    return lambda job: job.hyperparameters({**SEED_HYPERPARAMETERS, **changes})


def with_channel(name: str, content):
    """A breakage: channel `name` replaced by `content`."""
    return lambda job: job.channel(name, content)


def remove_channel(job, name: str) -> None:
    for path in (job.data / name).iterdir():
        path.unlink()
    (job.data / name).rmdir()


def malformed_features(job) -> None:
    job.features(["a", "b", "c", "d"])
    (job.data / "features" / "features.json").write_text('{"feature_names": "abcd"}')


def early_stopping_without_validation(job) -> None:
    with_hyperparameters(early_stopping_rounds="5")(job)
    remove_channel(job, "validation")


BREAKAGES = {
    "no-hyperparameters-file": lambda job: (job.config / "hyperparameters.json").unlink(),
    "malformed-hyperparameters": lambda job: job.hyperparameters("{num_round: 5"),
    "hyperparameters-not-an-object": lambda job: job.hyperparameters("[1, 2]"),
    "missing-num-round": lambda job: job.hyperparameters(
        {k: v for k, v in SEED_HYPERPARAMETERS.items() if k != "num_round"}
    ),
    "non-integer-num-round": with_hyperparameters(num_round="fifty"),
    "non-numeric-eta": with_hyperparameters(eta="fast"),
    "zero-num-round": with_hyperparameters(num_round="0"),
    "unknown-hyperparameter": with_hyperparameters(max_dept="5"),
    "bad-device": with_hyperparameters(device="tpu"),
    "xgboost-rejects-value": with_hyperparameters(objective="reg:nonsense"),
    "missing-train-channel": lambda job: remove_channel(job, "train"),
    "unknown-channel": with_channel("training", regression_data(10)),
    "empty-channel": lambda job: (job.data / "train" / "part-0.csv").unlink(),
    "empty-file": with_channel("train", ""),
    "short-row": with_channel("train", "1,2,3,4,5\n1,2,3,4,5\n1,2,3\n"),
    "non-numeric-value": with_channel("train", "1,2,3,4,5\n1,2,abc,4,5\n"),
    "label-only": with_channel("train", "1\n2\n"),
    "validation-width": with_channel("validation", regression_data(20, features=3)),
    "features-mismatch": lambda job: job.features(["a", "b"]),
    "features-malformed": malformed_features,
    "early-stopping-without-validation": early_stopping_without_validation,
    "cuda-without-gpu": with_hyperparameters(device="cuda"),
    "infinite-label": with_channel("train", "1,2,3,4,5\ninf,2,3,4,5\n"),
    "missing-label": with_channel("train", "1,2,3,4,5\n\n2,2,3,4,5\nnan,2,3,4,5\n"),
    "infinite-feature": with_channel("validation", "1,2,3,4,5\n1,2,-inf,4,5\n"),
    "feature-beyond-float32": with_channel("train", "1,2,3,4,5\n1,2,3,4,1e39\n"),
    "negative-seed": with_hyperparameters(seed="-1"),
    "seed-too-large": with_hyperparameters(seed=str(2**70)),
    "nan-eta": with_hyperparameters(eta="nan"),
    "subsample-above-one": with_hyperparameters(subsample="2"),
    "negative-max-depth": with_hyperparameters(max_depth="-3"),
    "logistic-label-out-of-range": with_hyperparameters(objective="binary:logistic"),
    "parquet-content-type": lambda job: (job.config / "inputdataconfig.json").write_text(
        json.dumps({"train": {"ContentType": "application/x-parquet"}})
    ),
}


def break_job(job, case: str) -> None:
    """Apply one kind of bad input to an otherwise valid job."""
    BREAKAGES[case](job)


BAD_INPUT = {
    "no-hyperparameters-file": "hyperparameters file {root}/input/config/hyperparameters.json not found",
    "malformed-hyperparameters": "is not valid JSON",
    "hyperparameters-not-an-object": "must hold a JSON object, found list",
    "missing-num-round": "missing required hyperparameter 'num_round'",
    "non-integer-num-round": "hyperparameter num_round='fifty' is not an integer",
    "non-numeric-eta": "hyperparameter eta='fast' is not a number",
    "zero-num-round": "hyperparameter num_round='0' must be at least 1",
    "unknown-hyperparameter": "unsupported hyperparameters ['max_dept']",
    "bad-device": "hyperparameter device='tpu' must be one of ['auto', 'cpu', 'cuda']",
    "xgboost-rejects-value": "XGBoost rejected the training job: Unknown objective function: `reg:nonsense`",
    "infinite-label": "{root}/input/data/train/part-0.csv, line 2: the label 'inf' is not a finite number",
    "missing-label": "{root}/input/data/train/part-0.csv, line 4: the label 'nan' is not a finite number",
    "infinite-feature": (
        "{root}/input/data/validation/part-0.csv, line 2, column 3: '-inf' is not finite "
        "(features must be finite float32 numbers; write a missing value as nan)"
    ),
    "feature-beyond-float32": "{root}/input/data/train/part-0.csv, line 2, column 5: '1e39' is not finite",
    "negative-seed": "hyperparameter seed='-1' must be at least 0",
    "seed-too-large": f"hyperparameter seed='{2**70}' must be at most {2**63 - 1}",
    "nan-eta": "hyperparameter eta='nan' is not a finite number",
    "subsample-above-one": "hyperparameter subsample='2' must be at most 1",
    "negative-max-depth": "hyperparameter max_depth='-3' must be at least 0",
    "logistic-label-out-of-range": (
        "XGBoost rejected the training job: Check failed: is_valid: base_score must be in (0,1) for the logistic loss."
    ),
    "missing-train-channel": (
        "input channel 'train' not found at {root}/input/data/train (channels present: ['validation'])"
    ),
    "unknown-channel": "unsupported input channels ['training']",
    "empty-channel": "channel directory {root}/input/data/train holds no data file",
    "empty-file": "data file {root}/input/data/train/part-0.csv is empty",
    "short-row": "{root}/input/data/train/part-0.csv, line 3: expected 5 columns, found 3",
    "non-numeric-value": "{root}/input/data/train/part-0.csv, line 2, column 3: 'abc' is not a number",
    "label-only": "has 1 column; expected the label followed by at least one feature",
    "validation-width": "validation data has 4 columns, training data 5",
    "features-mismatch": "names 2 features but the training data has 4 feature columns",
    "features-malformed": 'must hold {{"feature_names": [strings], "label": string}}',
    "early-stopping-without-validation": "early_stopping_rounds needs a 'validation' channel",
    "cuda-without-gpu": "device=cuda requested but no usable GPU",
    "parquet-content-type": "channel 'train' has content type 'application/x-parquet'; this image reads text/csv only",
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_with_the_reason_in_the_failure_file(job, caplog, case):
    if case == "cuda-without-gpu" and train.cuda_build() and train.visible_gpus():
        pytest.skip("this machine has a usable GPU")
    break_job(job, case)
    assert train.main() == 1
    reason = job.failure.read_text()
    assert reason.startswith("training failed: ")
    assert BAD_INPUT[case].format(root=job.root) in reason
    assert "unexpected error" not in reason and "/workspace/" not in reason and "Stack trace" not in reason
    assert not (job.model / "xgboost-model").exists()
    assert any(reason.strip() == record.getMessage() for record in caplog.records)


def test_bad_input_in_a_fresh_process_exits_1_without_a_traceback(job):
    break_job(job, "non-numeric-value")
    result = subprocess.run(
        [sys.executable, "-m", "xgboost_container.train"],
        env={**os.environ, "SM_ML_ROOT": str(job.root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "line 2, column 3: 'abc' is not a number" in result.stderr
    assert "line 2, column 3: 'abc' is not a number" in job.failure.read_text()


def test_unexpected_errors_are_recorded_too(job, monkeypatch):
    def explode(*args, **kwargs):
        raise MemoryError("out of memory while building the DMatrix")

    monkeypatch.setattr(train.xgboost, "DMatrix", explode)
    assert train.main() == 1
    assert job.failure.read_text().strip() == (
        "training failed with an unexpected error: MemoryError: out of memory while building the DMatrix"
    )


def test_per_path_environment_overrides(tmp_path, monkeypatch):
    """`SM_MODEL_DIR` etc. move single parts of the layout, as SageMaker's own variables do."""
    job_root = tmp_path / "job"
    monkeypatch.setenv("SM_ML_ROOT", str(job_root))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "elsewhere"))
    for name in ("SM_INPUT_DATA_DIR", "SM_INPUT_CONFIG_DIR", "SM_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    job = TrainingJob(job_root)
    job.hyperparameters({"num_round": "3"})
    job.channel("train", regression_data(30))
    assert train.main() == 0
    assert (tmp_path / "elsewhere" / "xgboost-model").is_file()
    assert not Path(job_root / "model").exists()
