"""Checkpoints of the training entrypoint: what managed spot training needs to resume an interrupted job."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost

from xgboost_container import model_format, train

from .conftest import TrainingJob, regression_data

# No row or column sampling: continuing from round 10 then grows the same trees as one uninterrupted job.
DETERMINISTIC = {"objective": "reg:squarederror", "num_round": "30", "max_depth": "4", "eta": "0.3", "seed": "1"}


class Interrupted(Exception):
    """A spot interruption, in the middle of round 17."""


def interrupt_after_round(monkeypatch: pytest.MonkeyPatch, last_round: int) -> None:
    original = train.Checkpoint.after_iteration

    def after_iteration(self, model, epoch, evals_log):  # type: ignore[no-untyped-def]
        result = original(self, model, epoch, evals_log)
        if epoch + 1 == last_round:
            raise Interrupted
        return result

    monkeypatch.setattr(train.Checkpoint, "after_iteration", after_iteration)


def predictions(job: TrainingJob) -> np.ndarray:
    booster, _ = model_format.load_model(job.model)
    return booster.predict(xgboost.DMatrix(regression_data(50, seed=9)[:, 1:]))


def test_without_a_checkpoint_directory_nothing_is_checkpointed(job: TrainingJob) -> None:
    assert train.main() == 0
    assert not (job.root / "checkpoints").exists()


def test_an_interrupted_job_resumes_from_its_last_checkpoint_and_ends_as_an_uninterrupted_one(
    job: TrainingJob, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    job.hyperparameters(DETERMINISTIC)
    (job.root / "checkpoints").mkdir()
    with monkeypatch.context() as patched:
        interrupt_after_round(patched, 17)
        with pytest.raises(Interrupted):
            train.train(train.paths.resolve())
    saved = xgboost.Booster(model_file=job.root / "checkpoints" / train.CHECKPOINT_FILE)
    assert saved.num_boosted_rounds() == 10  # the last multiple of CHECKPOINT_ROUNDS before the interruption
    with caplog.at_level("INFO", logger="xgboost_container.train"):
        assert train.main() == 0
    assert "resuming from the checkpoint of round 10 of 30" in caplog.text
    resumed_booster, _ = model_format.load_model(job.model)
    assert resumed_booster.num_boosted_rounds() == 30
    assert resumed_booster.attr(train.CHECKPOINT_ATTRIBUTE) is None  # the artifact does not carry it
    resumed = predictions(job)

    other = TrainingJob(tmp_path_factory.mktemp("uninterrupted"))
    other.hyperparameters(DETERMINISTIC)
    other.channel("train", regression_data(300))
    other.channel("validation", regression_data(60, seed=1))
    monkeypatch.setenv("SM_ML_ROOT", str(other.root))
    assert train.main() == 0
    np.testing.assert_allclose(resumed, predictions(other), rtol=1e-6)


def test_a_finished_job_s_checkpoint_holds_every_round(job: TrainingJob) -> None:
    job.hyperparameters(DETERMINISTIC)
    (job.root / "checkpoints").mkdir()
    assert train.main() == 0
    saved = xgboost.Booster(model_file=job.root / "checkpoints" / train.CHECKPOINT_FILE)
    assert saved.num_boosted_rounds() == 30
    assert sorted(p.name for p in (job.root / "checkpoints").iterdir()) == [train.CHECKPOINT_FILE]


def test_another_job_s_checkpoint_fails_the_job_instead_of_being_continued(job: TrainingJob) -> None:
    job.hyperparameters(DETERMINISTIC)
    (job.root / "checkpoints").mkdir()
    assert train.main() == 0
    job.hyperparameters({**DETERMINISTIC, "eta": "0.1"})
    assert train.main() == 1
    assert "was written by a job with other hyperparameters" in job.failure.read_text()


def test_an_unreadable_checkpoint_fails_the_job_naming_it(job: TrainingJob) -> None:
    (job.root / "checkpoints").mkdir()
    (job.root / "checkpoints" / train.CHECKPOINT_FILE).write_text(json.dumps({"not": "a model"}))
    assert train.main() == 1
    assert f"checkpoint {job.root / 'checkpoints' / train.CHECKPOINT_FILE} cannot be read" in job.failure.read_text()
