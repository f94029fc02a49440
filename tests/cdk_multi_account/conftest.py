"""One synthesis of the whole CDK app (with `multi_account` configured) for the multi-account tests.

Modules here are marked `xdist_group("cdk")` like tests/cdk, so under `pytest -n` they share the
worker that synthesizes CDK apps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.app_builder import build_app
from stacks.config import PlatformConfig, load_config
from tooling.cfn_resolver import Resolver
from tooling.synth import nag_findings

REGION = "eu-west-1"


@dataclass(frozen=True)
class MultiAccountSynth:
    """The synthesized templates this feature adds or changes."""

    outdir: Path
    config: PlatformConfig
    platform_json: dict
    product_json: dict
    product_path: Path
    staging_json: dict
    prod_json: dict

    @property
    def platform(self) -> Template:
        return Template.from_json(self.platform_json)

    @property
    def product(self) -> Template:
        return Template.from_json(self.product_json)

    @property
    def staging(self) -> Template:
        return Template.from_json(self.staging_json)

    def new_template_paths(self) -> list[Path]:
        return [
            self.product_path,
            *(self.outdir / f"{self.config.name}-target-{stage}.template.json" for stage in ("staging", "prod")),
        ]


@pytest.fixture(scope="session")
def ma(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> MultiAccountSynth:
    """Synthesize the app with `config/default.yaml` (which has a `multi_account` section)."""
    outdir = tmp_path_factory.mktemp("cdk-multi-account.out")
    config = load_config(repo_root / "config" / "default.yaml")
    assert config.multi_account is not None, "config/default.yaml must keep its multi_account example"
    build_app(config, outdir=str(outdir)).synth()

    def read(path: Path) -> dict:
        return json.loads(path.read_text())

    (product_path,) = outdir.glob("*MultiAccountTemplate*.product.template.json")
    return MultiAccountSynth(
        outdir=outdir,
        config=config,
        platform_json=read(outdir / f"{config.name}-platform.template.json"),
        product_json=read(product_path),
        product_path=product_path,
        staging_json=read(outdir / f"{config.name}-target-staging.template.json"),
        prod_json=read(outdir / f"{config.name}-target-prod.template.json"),
    )


@pytest.fixture(scope="session")
def ma_nag(ma: MultiAccountSynth) -> list[dict[str, str]]:
    """Unsuppressed cdk-nag findings of the whole app."""
    return nag_findings(ma.outdir)


# --- resolving CloudFormation intrinsics into literal policies (for parliament and the checks) ---

_ARN_OF_TYPE = {
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::CodeBuild::Project": "arn:aws:codebuild:{region}:{account}:project/{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
}


def resolve(value: Any, template: dict, *, account: str, parameters: dict[str, str] | None = None) -> Any:
    """`value` with literal example values for its references (tooling/cfn_resolver.py).

    Parameters take the given value or their default; a resource's Ref is a placeholder named
    after its logical ID, and its GetAtt Arn an ARN of its type in `account`.
    """
    resources = template.get("Resources", {})
    refs = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "stack",
        **{name: str(spec.get("Default", name.lower())) for name, spec in template.get("Parameters", {}).items()},
        **(parameters or {}),
    }

    def placeholder(logical_id: str, attribute: str | None) -> str:
        kind = resources.get(logical_id, {}).get("Type", "")
        name = logical_id.lower()[:40]
        if attribute == "Arn" and kind in _ARN_OF_TYPE:
            return _ARN_OF_TYPE[kind].format(account=account, region=REGION, name=name)
        return name

    return Resolver(refs=refs, mappings=template.get("Mappings", {}), fallback=placeholder).resolve(value)


def policy_documents(template: dict, *, account: str) -> list[tuple[str, str, dict]]:
    """(logical ID, kind, resolved document) of every IAM policy, trust policy and resource policy."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        documents = []
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy"):
            documents.append(("policy", properties["PolicyDocument"]))
        elif kind == "AWS::IAM::Role":
            documents.append(("trust", properties["AssumeRolePolicyDocument"]))
            documents += [("inline", policy["PolicyDocument"]) for policy in properties.get("Policies", [])]
        elif kind == "AWS::KMS::Key":
            documents.append(("key", properties["KeyPolicy"]))
        elif kind == "AWS::SageMaker::ModelPackageGroup" and "ModelPackageGroupPolicy" in properties:
            documents.append(("model-package-group", properties["ModelPackageGroupPolicy"]))
        found += [(logical_id, what, resolve(doc, template, account=account)) for what, doc in documents]
    return found


@pytest.fixture(scope="session")
def new_policies(ma: MultiAccountSynth) -> list[tuple[str, str, str, dict]]:
    """(template, logical ID, kind, resolved document) of every policy in the new templates."""
    multi = ma.config.multi_account
    templates = [
        ("product", ma.product_json, ma.config.account),
        ("target-staging", ma.staging_json, multi.staging_account),
        ("target-prod", ma.prod_json, multi.prod_account),
    ]
    return [
        (name, logical_id, kind, document)
        for name, template, account in templates
        for logical_id, kind, document in policy_documents(template, account=account)
    ]


@pytest.fixture(scope="session")
def platform_multi_account_policies(ma: MultiAccountSynth) -> list[tuple[str, str, str, dict]]:
    """Policies of the platform stack's multi-account role and launch permissions."""
    return [
        ("platform", logical_id, kind, document)
        for logical_id, kind, document in policy_documents(ma.platform_json, account=ma.config.account)
        if logical_id.startswith("MultiAccount")
    ]


@pytest.fixture(scope="session", name="resolve")
def resolve_fixture():
    """`resolve` for test modules (a bare `from conftest import` would find another directory's conftest)."""
    return resolve
