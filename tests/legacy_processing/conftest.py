"""Fixtures of the legacy processing tests: the example project, its model, and one emulator session."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_lifecycle.legacy_emulator import EXAMPLE, LegacyEmulator
from stacks.config import LegacyProcessingConfig, load_config

if str(EXAMPLE) not in sys.path:  # the example's scripts import each other, as they do in the image
    sys.path.insert(0, str(EXAMPLE))


@dataclass(frozen=True)
class ExampleBuild:
    """The example's held-out patients (a clean lab export) and the model train.py baked."""

    patients_csv: Path
    model_dir: Path


@pytest.fixture(scope="session")
def legacy_config(repo_root: Path) -> LegacyProcessingConfig:
    """The `legacy_processing` section of config/default.yaml."""
    config = load_config(repo_root / "config" / "default.yaml").legacy_processing
    assert config is not None
    return config


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> ExampleBuild:
    """Run train.py once, as the image build does, exporting the held-out patients too."""
    import train

    root = tmp_path_factory.mktemp("legacy-example")
    assert train.main(["--model-dir", str(root / "model"), "--export-holdout", str(root / "patients.csv")]) == 0
    return ExampleBuild(patients_csv=root / "patients.csv", model_dir=root / "model")


@pytest.fixture(scope="session")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, legacy_config: LegacyProcessingConfig
) -> Iterator[LegacyEmulator]:
    """moto in this process with the workflow created and Processing jobs running locally.

    Polls every second and gives jobs no start-up allowance, so a job's timeout is its max_runtime.
    """
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with LegacyEmulator(
        workdir=tmp_path_factory.mktemp("legacy-emulator"),
        config=legacy_config,
        poll_interval_seconds=1,
        startup_allowance_seconds=0,
    ) as running:
        yield running
