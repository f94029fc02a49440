"""`instance_types` (and `gitlab.on_project_delete`) of config/<env>.yaml reach what is seeded.

The seeds' tests show the variables become the pipeline parameters' defaults
(seedcode/model-build/tests/test_run_pipeline.py) and the endpoints' EndpointInstanceType
(tests/model_deploy/test_deploy_build.py); these show the configuration becomes the variables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.app_builder import build_app
from stacks.config import load_config

pytestmark = pytest.mark.xdist_group("cdk")

CHANGED = {
    "processing": "ml.c5.2xlarge",
    "training": "ml.g5.2xlarge",
    "staging_endpoint": "ml.g4dn.xlarge",
    "prod_endpoint": "ml.m5.4xlarge",
}


def seeded_variables(product: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    (resource,) = [r for r in product["Resources"].values() if r["Type"] == "Custom::GitLabSeedCode"]
    properties = resource["Properties"]
    return (
        {v["Key"]: v["Value"] for v in properties["ModelBuildVariables"]},
        {v["Key"]: v["Value"] for v in properties["ModelDeployVariables"]},
    )


def expected(instance_types: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    return (
        {
            "PROCESSING_INSTANCE_TYPE": instance_types["processing"],
            "TRAINING_INSTANCE_TYPE": instance_types["training"],
        },
        {
            "STAGING_INSTANCE_TYPE": instance_types["staging_endpoint"],
            "PROD_INSTANCE_TYPE": instance_types["prod_endpoint"],
        },
    )


def test_default_configuration_is_seeded(synthesized, repo_root: Path) -> None:
    (checkin,) = [r for r in synthesized.product_json["Resources"].values() if r["Type"] == "Custom::GitLabSeedCode"]
    assert checkin["Properties"]["OnDelete"] == "keep"
    config = load_config(repo_root / "config" / "default.yaml")
    build, deploy = seeded_variables(synthesized.product_json)
    want_build, want_deploy = expected(config.instance_types.model_dump())
    assert want_build.items() <= build.items() and want_deploy.items() <= deploy.items()


def test_changed_instance_types_change_what_is_seeded(tmp_path_factory, repo_root: Path) -> None:
    config = load_config(repo_root / "config" / "default.yaml")
    changed = config.model_copy(
        update={
            "instance_types": config.instance_types.model_copy(update=CHANGED),
            "gitlab": config.gitlab.model_copy(update={"on_project_delete": "archive"}),
        }
    )
    outdir = tmp_path_factory.mktemp("cdk-instance-types.out")
    build_app(changed, outdir=str(outdir)).synth()
    (product_path,) = outdir.glob("*GitLabProjectTemplate*.product.template.json")
    product = json.loads(product_path.read_text())
    build, deploy = seeded_variables(product)
    (checkin,) = [r for r in product["Resources"].values() if r["Type"] == "Custom::GitLabSeedCode"]
    assert checkin["Properties"]["OnDelete"] == "archive"  # gitlab.on_project_delete
    want_build, want_deploy = expected(CHANGED)
    assert want_build.items() <= build.items() and want_deploy.items() <= deploy.items()
    (multi_path,) = outdir.glob("*MultiAccountTemplate*.product.template.json")
    multi = json.loads(multi_path.read_text())
    (build_project,) = [
        r for r in multi["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project" and "ensure-group" in str(r)
    ]
    variables = {v["Name"]: v["Value"] for v in build_project["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables["STAGING_INSTANCE_TYPE"] == CHANGED["staging_endpoint"]
    assert variables["PROD_INSTANCE_TYPE"] == CHANGED["prod_endpoint"]
