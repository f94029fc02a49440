"""Shared fixtures. The CDK app is synthesized once per test session (see tests/cdk/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ABALONE_CSV = SHARED_DATA / "abalone-dataset.csv"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The platform repository's root directory."""
    return REPO_ROOT


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep `xdist_group`s on one worker under `--dist loadgroup` (pytest 9.2 with pytest-xdist 3.8).

    xdist marks a grouped test by renaming `item._nodeid` to `<nodeid>@<group>`, which pytest 9 no
    longer reads (the node ID lives in `item._id`), so every group was spread over the workers and
    each worker synthesized the CDK app again. This carries xdist's renaming over to `_id`.
    """
    for item in items:
        renamed = item.__dict__.get("_nodeid")
        if renamed and renamed != item.nodeid:
            item._id = coerce_node_id(renamed)
