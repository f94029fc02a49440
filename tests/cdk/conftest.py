"""One synthesis of the whole CDK app per test session, shared by every stack test.

Every test module in this package is marked `xdist_group("cdk")`, so under `pytest -n` they
all run on one worker and the app is synthesized once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from stacks.app_builder import build_app
from stacks.config import load_config
from tooling.synth import nag_findings


@dataclass(frozen=True)
class Synthesized:
    """Result of the session's synthesis."""

    outdir: Path
    platform: Template
    platform_json: dict
    product: Template
    product_json: dict
    product_path: Path


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Synthesized:
    """Synthesize the app with `config/default.yaml` into a temporary cdk.out."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    config = load_config(repo_root / "config" / "default.yaml")
    build_app(config, outdir=str(outdir)).synth()
    platform_json = json.loads((outdir / f"{config.name}-platform.template.json").read_text())
    (product_path,) = outdir.glob("*GitLabProjectTemplate*.product.template.json")
    product_json = json.loads(product_path.read_text())
    return Synthesized(
        outdir=outdir,
        platform=Template.from_json(platform_json),
        platform_json=platform_json,
        product=Template.from_json(product_json),
        product_json=product_json,
        product_path=product_path,
    )


@pytest.fixture(scope="session")
def nag(synthesized: Synthesized) -> list[dict[str, str]]:
    """Unsuppressed cdk-nag AwsSolutions findings of the synthesized app."""
    return nag_findings(synthesized.outdir)
