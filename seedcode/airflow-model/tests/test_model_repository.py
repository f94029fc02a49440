"""Checks of the model repository that run in its own pipeline before anything is built."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import package
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_hyperparameters_are_strings_as_sagemaker_takes_them() -> None:
    settings = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    assert settings["hyperparameters"]["num_round"]
    assert all(isinstance(value, str) for value in settings["hyperparameters"].values())


def test_versioning_rules_name_major_and_minor_patterns() -> None:
    versioning = yaml.safe_load((ROOT / "mlops.yaml").read_text())["versioning"]
    assert set(versioning) <= {"major", "minor"}
    assert all(isinstance(pattern, str) and pattern for patterns in versioning.values() for pattern in patterns)


def test_contract_lists_the_features() -> None:
    contract = json.loads((ROOT / "model" / "contract.json").read_text())
    assert contract["features"] and len(set(contract["features"])) == len(contract["features"])


def test_package_holds_the_sources_and_their_hashes(tmp_path: Path) -> None:
    result = package.package(ROOT, tmp_path / "build", job_id="42")
    with tarfile.open(tmp_path / "build" / "model-source.tar.gz") as archive:
        names = set(archive.getnames())
    assert {"Dockerfile", "mlops.yaml", "model/evaluate.py"} <= names == set(result["files"])
    assert (tmp_path / "build" / "package.env").read_text() == "PACKAGE_JOB_ID=42\n"
