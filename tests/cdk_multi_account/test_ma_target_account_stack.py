"""The stack deployed into each target account: the deploy role and the endpoints' execution role."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.xdist_group("cdk")


def _role(template: dict, name_prefix: str) -> dict:
    (role,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role" and str(r["Properties"]["RoleName"]).find(name_prefix) >= 0
    ]
    return role


def _statements_of(template: dict, role_logical_prefix: str) -> dict[str, dict]:
    statements = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy" and logical_id.startswith(role_logical_prefix):
            statements.update({s["Sid"]: s for s in resource["Properties"]["PolicyDocument"]["Statement"]})
    return statements


def test_parameters(ma) -> None:
    params = ma.staging_json["Parameters"]
    suffix = params["SageMakerRoleSuffix"]
    assert suffix["MaxLength"] == 10 and suffix["AllowedPattern"] == "^[a-z]{1,10}$"
    assert suffix["Default"] == ma.config.multi_account.target_role_suffix
    for good, bad in (("staging", "Staging"), ("abcdefghij", "abcdefghijk"), ("prod", "prod-1")):
        assert re.fullmatch(suffix["AllowedPattern"], good) and not re.fullmatch(suffix["AllowedPattern"], bad)
    pipeline = params["PipelineExecutionRoleArn"]
    assert pipeline["Default"] == f"arn:aws:iam::{ma.config.account}:role/{ma.config.multi_account_pipeline_role_name}"
    assert "BootstrapVersion" not in params, "the target stack must deploy without CDK bootstrap (console upload)"


def test_deploy_role_is_trusted_by_the_pipeline_role_only(ma) -> None:
    role = _role(ma.staging_json, "sagemaker-role-")
    assert role["Properties"]["RoleName"] == {"Fn::Join": ["", ["sagemaker-role-", {"Ref": "SageMakerRoleSuffix"}]]}
    trust = role["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"AWS": {"Ref": "PipelineExecutionRoleArn"}}}
    ]


def test_deploy_role_may_deploy_and_test_endpoints_and_nothing_more(ma) -> None:
    statements = _statements_of(ma.staging_json, "RolesDeployRole")
    assert set(statements) == {"EndpointStacks", "Endpoints", "ReadEndpointLatency", "PassExecutionRole"}
    # The staging test reads ModelLatency percentiles: read-only, and GetMetricData takes no resource.
    assert statements["ReadEndpointLatency"]["Action"] == "cloudwatch:GetMetricData"
    assert all(a.startswith("cloudformation:") for a in statements["EndpointStacks"]["Action"])
    assert "sagemaker-*/*" in str(statements["EndpointStacks"]["Resource"])
    assert all(a.startswith("sagemaker:") for a in statements["Endpoints"]["Action"])
    assert "sagemaker:InvokeEndpoint" in statements["Endpoints"]["Action"]
    for resource in statements["Endpoints"]["Resource"]:
        assert {"Ref": "ResourcePrefix"} in resource["Fn::Join"][1], resource
    passrole = statements["PassExecutionRole"]
    assert passrole["Action"] == "iam:PassRole"
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert passrole["Resource"]["Fn::GetAtt"][0].startswith("RolesExecutionRole")
    for statement in statements.values():
        assert "*" != statement["Action"] and not any(
            a.endswith(":*") for a in statement["Action"] if isinstance(statement["Action"], list)
        )


def test_execution_role_reads_data_science_artifacts_and_pulls_images(ma) -> None:
    role = _role(ma.staging_json, "sagemaker-execution-role-")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    statements = _statements_of(ma.staging_json, "RolesExecutionRole")
    data_science = {"Fn::Select": [4, {"Fn::Split": [":", {"Ref": "PipelineExecutionRoleArn"}]}]}
    assert statements["ReadModelArtifacts"]["Condition"] == {"StringEquals": {"s3:ResourceAccount": data_science}}
    assert statements["DecryptModelArtifacts"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert data_science in statements["DecryptModelArtifacts"]["Resource"]["Fn::Join"][1]
    assert set(statements["PullImages"]["Action"]) >= {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


def test_both_target_stacks_deploy_into_their_accounts(ma) -> None:
    import json

    manifest = json.loads((ma.outdir / "manifest.json").read_text())["artifacts"]
    multi = ma.config.multi_account
    for stage, account in (("staging", multi.staging_account), ("prod", multi.prod_account)):
        assert manifest[f"{ma.config.name}-target-{stage}"]["environment"] == f"aws://{account}/{ma.config.region}"
    ma.staging.has_output("SageMakerExecutionRoleName", Match.any_value())
