"""A trained artifact shared by the serving tests: the default job (the digits), trained once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytorch_container import data


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, training_job) -> Path:
    """The model directory of a default training run (12 epochs on the digits, about 0.98 test accuracy)."""
    job = training_job(tmp_path_factory.mktemp("trained"))
    with pytest.MonkeyPatch.context() as patch:
        for name in ("SM_HOSTS", "SM_CURRENT_HOST", "SM_MODEL_DIR", "SM_CHECKPOINT_DIR", "SM_INPUT_DATA_DIR"):
            patch.delenv(name, raising=False)
        assert job.run(patch) == 0, job.failure.read_text() if job.failure.exists() else ""
    return job.model


@pytest.fixture(scope="session")
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    """The test half of the digits: `uint8` 8x8 images and labels."""
    pixels, labels = data.digits_pixels()
    return pixels[data.DIGITS_TRAIN_SIZE :], labels[data.DIGITS_TRAIN_SIZE :]
