"""The "Multi Account Deployment" product template and its place in the portfolio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Match
from moto.events.models import EventPattern

from stacks.products.multi_account_product import PRODUCT_NAME

pytestmark = pytest.mark.xdist_group("cdk")


def _resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _pipelines(ma) -> dict[str, dict]:
    pipelines = _resources(ma.product_json, "AWS::CodePipeline::Pipeline")
    by_condition = {resource["Condition"]: resource for resource in pipelines.values()}
    assert set(by_condition) == {"IsDelegatedAdmin", "IsOrganizationManagementAccount"}
    return by_condition


def test_parameters_and_project_name_limit(ma) -> None:
    params = ma.product_json["Parameters"]
    for name in (
        "SageMakerProjectName",
        "SageMakerProjectId",
        "SageMakerExecutionRoleStagingName",
        "SageMakerExecutionRoleProdName",
        "OrganizationalUnitStagingId",
        "OrganizationalUnitProdId",
        "DelegatedAdmin",
        "TargetAccountRoleName",
    ):
        assert params[name]["Type"] == "String", name
    project = params["SageMakerProjectName"]
    assert project["MaxLength"] == 15
    assert "15 characters or fewer" in project["ConstraintDescription"]
    import re

    assert re.fullmatch(project["AllowedPattern"], "iris-multi-01")
    assert not re.fullmatch(project["AllowedPattern"], "a" * 16)
    multi = ma.config.multi_account
    assert params["OrganizationalUnitStagingId"]["Default"] == multi.staging_ou_id
    assert params["OrganizationalUnitProdId"]["Default"] == multi.prod_ou_id
    assert params["SageMakerExecutionRoleStagingName"]["Default"] == multi.execution_role_name
    assert params["DelegatedAdmin"]["AllowedValues"] == ["true", "false"]
    assert ma.product_json["Conditions"]["IsDelegatedAdmin"] == {"Fn::Equals": [{"Ref": "DelegatedAdmin"}, "true"]}


def test_artifacts_bucket_is_retained_with_its_logical_id(ma) -> None:
    bucket = ma.product_json["Resources"]["MlOpsArtifactsBucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"


def test_pipeline_stages_and_actions_in_order(ma) -> None:
    expected = [
        ("Source", [("ModelDeploySource", "S3", 1)]),
        ("Build", [("BuildDeploymentTemplate", "CodeBuild", 1)]),
        (
            "DeployStaging",
            [
                ("DeployResourcesStaging", "CloudFormationStackSet", 1),
                ("TestStaging", "CodeBuild", 2),
                ("ApproveDeployment", "Manual", 3),
            ],
        ),
        ("DeployProd", [("DeployResourcesProd", "CloudFormationStackSet", 1)]),
    ]
    for condition, pipeline in _pipelines(ma).items():
        stages = pipeline["Properties"]["Stages"]
        provider = "CodeBuild" if condition == "IsDelegatedAdmin" else "CloudFormationStackSet"
        actual = [
            (stage["Name"], [(a["Name"], a["ActionTypeId"]["Provider"], a["RunOrder"]) for a in stage["Actions"]])
            for stage in stages
        ]
        wanted = [
            (name, [(a, provider if p == "CloudFormationStackSet" else p, order) for a, p, order in acts])
            for name, acts in expected
        ]
        assert actual == wanted, condition
        name = pipeline["Properties"]["Name"]
        assert name == {
            "Fn::Join": ["", ["sagemaker-", {"Ref": "SageMakerProjectName"}, "-", {"Ref": "SageMakerProjectId"}]]
        }


def test_native_stack_set_actions_target_the_ous(ma) -> None:
    stages = _pipelines(ma)["IsOrganizationManagementAccount"]["Properties"]["Stages"]
    for stage_index, suffix, ou_param in (
        (2, "staging", "OrganizationalUnitStagingId"),
        (3, "prod", "OrganizationalUnitProdId"),
    ):
        config = stages[stage_index]["Actions"][0]["Configuration"]
        assert config["StackSetName"] == {
            "Fn::Join": [
                "",
                [
                    "sagemaker-",
                    {"Ref": "SageMakerProjectName"},
                    "-",
                    {"Ref": "SageMakerProjectId"},
                    f"-deploy-{suffix}",
                ],
            ]
        }
        assert config["DeploymentTargets"] == {"Ref": ou_param}
        assert config["PermissionModel"] == "SERVICE_MANAGED"
        assert config["TemplatePath"] == "BuildArtifact::endpoint-config-template.yml"
        assert config["Parameters"] == f"BuildArtifact::{suffix}-params.json"


def test_delegated_admin_actions_call_the_stack_set_api_with_call_as(ma) -> None:
    stages = _pipelines(ma)["IsDelegatedAdmin"]["Properties"]["Stages"]
    projects = _resources(ma.product_json, "AWS::CodeBuild::Project")
    (stack_set_project_id,) = [k for k, v in projects.items() if v.get("Condition") == "IsDelegatedAdmin"]
    for stage_index, suffix, ou_param in (
        (2, "staging", "OrganizationalUnitStagingId"),
        (3, "prod", "OrganizationalUnitProdId"),
    ):
        config = stages[stage_index]["Actions"][0]["Configuration"]
        assert config["ProjectName"] == {"Ref": stack_set_project_id}
        rendered = json.dumps(config["EnvironmentVariables"])
        assert "DELEGATED_ADMIN" in rendered and f"{suffix}-params.json" in rendered and ou_param in rendered
    buildspec = projects[stack_set_project_id]["Properties"]["Source"]["BuildSpec"]
    assert "deploy-stack-set" in buildspec and '--call-as \\"$CALL_AS\\"' in buildspec
    test_action = stages[2]["Actions"][1]["Configuration"]
    assert "DELEGATED_ADMIN" in test_action["EnvironmentVariables"]


def test_source_is_the_deploy_script_in_the_product_asset_bucket(ma) -> None:
    stages = _pipelines(ma)["IsOrganizationManagementAccount"]["Properties"]["Stages"]
    source = stages[0]["Actions"][0]["Configuration"]
    assert source["S3Bucket"] == ma.config.product_asset_bucket_name
    assert source["S3ObjectKey"].endswith(".zip") and source["PollForSourceChanges"] is False
    asset_dir = ma.outdir / f"asset.{source['S3ObjectKey'].removesuffix('.zip')}"
    assert (asset_dir / "deploy.py").is_file()
    # One endpoint template for both deployment paths: the deploy repository's, byte for byte.
    seed = Path(__file__).resolve().parents[2] / "seedcode" / "model-deploy"
    for name in ("endpoint-config-template.yml", "staging-config.json", "prod-config.json"):
        assert (asset_dir / name).read_bytes() == (seed / name).read_bytes(), name


def test_build_project_ensures_the_group_and_prepares_the_templates(ma) -> None:
    ma.product.has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Name": {
                "Fn::Join": [
                    "",
                    ["sagemaker-", {"Ref": "SageMakerProjectName"}, "-", {"Ref": "SageMakerProjectId"}, "-build"],
                ]
            },
            "Source": {"Type": "CODEPIPELINE", "BuildSpec": Match.string_like_regexp(r"ensure-group[\s\S]*prepare")},
            "EncryptionKey": Match.any_value(),
        },
    )


def test_model_approval_rule_starts_each_pipeline(ma) -> None:
    rules = _resources(ma.product_json, "AWS::Events::Rule")
    assert {rule["Condition"] for rule in rules.values()} == {"IsDelegatedAdmin", "IsOrganizationManagementAccount"}
    for rule in rules.values():
        pattern = rule["Properties"]["EventPattern"]
        group = {"Fn::Join": ["", [{"Ref": "SageMakerProjectName"}, "-", {"Ref": "SageMakerProjectId"}]]}
        assert pattern["detail"]["ModelPackageGroupName"] == [group]
        assert rule["Properties"]["Targets"][0]["Arn"]["Fn::Join"][1][-1]["Ref"].startswith(
            "DelegatedAdminPipeline" if rule["Condition"] == "IsDelegatedAdmin" else "Pipeline"
        )
        literal = json.loads(json.dumps(pattern).replace(json.dumps(group), '"iris-multi-01-p-abc123"'))
        matcher = EventPattern.load(json.dumps(literal))
        event = {
            "source": "aws.sagemaker",
            "detail-type": "SageMaker Model Package State Change",
            "detail": {"ModelPackageGroupName": "iris-multi-01-p-abc123", "ModelApprovalStatus": "Approved"},
        }
        assert matcher.matches_event(event)
        assert not matcher.matches_event({**event, "detail": {**event["detail"], "ModelApprovalStatus": "Rejected"}})
        assert not matcher.matches_event({**event, "detail": {**event["detail"], "ModelPackageGroupName": "other"}})


def test_model_package_group_policy_lets_target_accounts_create_models(ma) -> None:
    (group,) = _resources(ma.product_json, "AWS::SageMaker::ModelPackageGroup").values()
    statements = {s["Sid"]: s for s in group["Properties"]["ModelPackageGroupPolicy"]["Statement"]}
    assert set(statements["CrossAccountUseVersions"]["Action"]) == {
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
        "sagemaker:CreateModel",
    }
    assert statements["CrossAccountDescribeGroup"]["Action"] == "sagemaker:DescribeModelPackageGroup"
    assert "sagemaker:UpdateModelPackage" not in json.dumps(statements)


def test_product_is_in_the_portfolio_with_launch_role_and_studio_tag(ma) -> None:
    platform = ma.platform
    products = platform.find_resources(
        "AWS::ServiceCatalog::CloudFormationProduct", {"Properties": {"Name": PRODUCT_NAME}}
    )
    (product_id,) = products
    tags = {t["Key"]: t["Value"] for t in products[product_id]["Properties"]["Tags"]}
    assert tags["sagemaker:studio-visibility"] == "true"
    platform.has_resource_properties(
        "AWS::ServiceCatalog::PortfolioProductAssociation", {"ProductId": {"Ref": product_id}}
    )
    platform.has_resource_properties(
        "AWS::ServiceCatalog::LaunchRoleConstraint", {"ProductId": {"Ref": product_id}, "RoleArn": Match.any_value()}
    )
    platform.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": ma.config.multi_account_pipeline_role_name,
            # CodeBuild (this product's steps) and, conditioned on a tag, GitLab deploy CI roles.
            "AssumeRolePolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "codebuild.amazonaws.com"}})]
                )
            },
        },
    )


def test_config_without_multi_account_adds_nothing(repo_root) -> None:
    import aws_cdk as cdk
    import yaml

    from stacks.app_builder import add_target_account_stacks
    from stacks.config import parse_config

    data = yaml.safe_load((repo_root / "config" / "default.yaml").read_text())
    data.pop("multi_account")
    assert add_target_account_stacks(cdk.App(), parse_config(data)) == []
