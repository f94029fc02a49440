"""Per-epoch checkpoints: atomic, the newest two kept, the newest readable one of the same job resumed."""

from __future__ import annotations

import pytest
import torch

from pytorch_container import checkpoints
from pytorch_container.errors import TrainingError

PRINT = {"epochs": 3, "arch": "cnn"}
CLASSES = ["a", "b"]


def state(value: float) -> dict:
    return {"fingerprint": PRINT, "class_names": CLASSES, "network": {"w": torch.tensor([value])}}


def test_the_newest_two_are_kept_and_the_newest_is_loaded(tmp_path) -> None:
    for epoch in (1, 2, 3):
        checkpoints.save(tmp_path, epoch, state(float(epoch)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-epoch-0002.pt", "checkpoint-epoch-0003.pt"]
    loaded = checkpoints.load_latest(tmp_path, fingerprint=PRINT, class_names=CLASSES)
    assert loaded is not None and loaded["epoch"] == 3 and loaded["network"]["w"].item() == 3.0


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog) -> None:
    checkpoints.save(tmp_path, 1, state(1.0))
    checkpoints.path_for(tmp_path, 2).write_bytes(b"cut short")
    loaded = checkpoints.load_latest(tmp_path, fingerprint=PRINT, class_names=CLASSES)
    assert loaded is not None and loaded["epoch"] == 1
    assert "checkpoint-epoch-0002.pt is unreadable" in caplog.text


def test_no_checkpoint_means_a_fresh_start(tmp_path) -> None:
    assert checkpoints.load_latest(tmp_path / "absent", fingerprint=PRINT, class_names=CLASSES) is None


def test_a_checkpoint_of_a_job_with_other_settings_is_refused_with_the_differences(tmp_path) -> None:
    checkpoints.save(tmp_path, 1, state(1.0))
    with pytest.raises(TrainingError, match=r"other settings \(epochs 3 vs 5; class_names \['a', 'b'\] vs \['a'\]\)"):
        checkpoints.load_latest(tmp_path, fingerprint={**PRINT, "epochs": 5}, class_names=["a"])
