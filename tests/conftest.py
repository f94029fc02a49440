"""Shared fixtures. The CDK app is synthesized once per test session (see tests/cdk/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ABALONE_CSV = SHARED_DATA / "abalone-dataset.csv"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The platform repository's root directory."""
    return REPO_ROOT
