"""The fraud model: trained by the XGBoost image's code, evaluated on a held-out split, data set for the seed."""

from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
from pathlib import Path

import pytest
from fraud_test_support import THRESHOLDS, TrainedModel

from fraud_model.dataset import HYPERPARAMETERS, write_model_build_dataset
from fraud_model.training import evaluate, package_model, plot_pr_curve, suggest_thresholds
from fraud_model.transactions import LABEL
from fraud_scoring.schema import FEATURE_NAMES
from xgboost_container import model_format

pytestmark = pytest.mark.xdist_group("fraud")
SEED_PREPROCESS = (
    Path(__file__).resolve().parents[2] / "seedcode" / "model-build" / "pipelines" / "abalone" / "preprocess.py"
)


def test_the_model_is_a_binary_classifier_far_better_than_chance(trained: TrainedModel, tmp_path: Path) -> None:
    booster, metadata = model_format.load_model(trained.model_dir)
    assert metadata.objective == "binary:logistic"
    assert list(metadata.feature_names) == list(FEATURE_NAMES)
    evaluation = evaluate(trained.model_dir, trained.splits, THRESHOLDS)
    assert evaluation.test_fraud > 10
    # Average precision of a random ranking is the fraud share (about 1 %).
    assert evaluation.pr_auc > 0.5 > 20 * evaluation.fraud_share
    assert evaluation.block.precision >= evaluation.investigate.precision
    assert evaluation.investigate.recall >= evaluation.block.recall > 0.3
    curve = plot_pr_curve(trained.model_dir, trained.splits, evaluation, tmp_path / "pr.png")
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and curve.stat().st_size > 10_000


def test_the_split_is_in_time_and_the_test_split_is_the_newest(trained: TrainedModel) -> None:
    train, validation, test = (trained.splits[name] for name in ("train", "validation", "test"))
    assert train["timestamp"].max() <= validation["timestamp"].min() <= test["timestamp"].min()
    assert len(train) + len(validation) + len(test) == len(trained.table)


def test_suggested_thresholds_meet_their_targets_on_validation(trained: TrainedModel) -> None:
    from fraud_model.training import predict

    labels = trained.splits["validation"][LABEL].to_numpy()
    scores = predict(trained.model_dir, trained.splits["validation"])
    investigate, block = suggest_thresholds(labels, scores)
    assert 0 < investigate < block < 1


def test_the_packaged_model_is_what_sagemaker_deploys(trained: TrainedModel, tmp_path: Path) -> None:
    archive = package_model(trained.model_dir, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(path.name for path in trained.model_dir.iterdir())


def test_the_model_build_seed_reads_the_data_set_by_configuration(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = write_model_build_dataset(trained.table, tmp_path / "model-build")
    config = json.loads(config_path.read_text())
    assert config["hyperparameters"] == HYPERPARAMETERS
    assert config["hyperparameters"]["objective"] == "binary:logistic"
    spec = importlib.util.spec_from_file_location("seed_preprocess", SEED_PREPROCESS)
    assert spec and spec.loader
    preprocess = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, preprocess)  # its dataclasses look themselves up there
    spec.loader.exec_module(preprocess)
    dataset = preprocess.load_config(config_path)
    frame = preprocess.read_dataset(Path(config["input_data"]), dataset)
    assert len(frame) == len(trained.table)
    assert list(frame.columns) == [*FEATURE_NAMES, LABEL]
    assert frame[LABEL].sum() == trained.table[LABEL].sum()
