"""The SageMaker project template "Multi Account Deployment" (docs/multi-account.md).

Launched from SageMaker Studio in the data science account, it creates the project's artifact
bucket (`MlOpsArtifactsBucket`, readable by the staging and production accounts only), its model
package group (usable by those accounts), the deploy source, the CodeBuild projects and a
CodePipeline that promotes each approved model version through CloudFormation StackSets: first
into the staging OU, then, after tests and a manual approval, into the production OU.

The deploy source is an S3 object (CodeCommit is closed to new customers): the zipped
`deploy.py` the platform publishes to its product-asset bucket with this template.
"""

from __future__ import annotations

from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_servicecatalog as servicecatalog
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.model_registry import ModelRegistry
from stacks.components.multi_account_deploy.deploy import STAGE_PARAMETER_FILES
from stacks.components.multi_account_pipeline import (
    DEPLOY_SCRIPT,
    DEPLOY_SCRIPTS,
    MultiAccountPipeline,
    StageTarget,
    deploy_source_directory,
)
from stacks.components.parameters import string_parameter
from stacks.config import PlatformConfig

# SageMaker project names of this template: at most 15 characters (stack set and resource names
# are derived from them and must stay within their limits).
PROJECT_NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,14}$"
PROJECT_NAME_CONSTRAINT = (
    "Project names of the Multi Account Deployment template must have 15 characters or fewer: "
    "letters, digits and hyphens, starting with a letter or digit."
)
OU_PATTERN = "^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$"
ROLE_NAME_PATTERN = "^[\\w+=,.@-]{1,64}$"
PRODUCT_NAME = "Multi Account Deployment"


def _buildspec(commands: list[str], *, artifacts: dict[str, Any] | None = None) -> codebuild.BuildSpec:
    spec: dict[str, Any] = {
        "version": "0.2",
        "phases": {"install": {"runtime-versions": {"python": "3.12"}}, "build": {"commands": commands}},
    }
    if artifacts:
        spec["artifacts"] = artifacts
    return codebuild.BuildSpec.from_object(spec)


class MultiAccountProduct(servicecatalog.ProductStack):
    """Product template of the multi-account deployment project."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        asset_bucket: s3.IBucket,
        pipeline_role_arn: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            asset_bucket=asset_bucket,
            description="SageMaker project template: deploy approved models to staging and production "
            "accounts with CloudFormation StackSets",
        )
        multi = config.multi_account
        if multi is None:
            raise ValueError("multi_account: required by the Multi Account Deployment product")
        p = self._parameters(config)
        project_name = p["SageMakerProjectName"].value_as_string
        project_id = p["SageMakerProjectId"].value_as_string
        prefix = f"{project_name}-{project_id}"
        resource_base = f"sagemaker-{prefix}"
        delegated = cdk.CfnCondition(
            self, "IsDelegatedAdmin", expression=cdk.Fn.condition_equals(p["DelegatedAdmin"].value_as_string, "true")
        )
        native = cdk.CfnCondition(
            self,
            "IsOrganizationManagementAccount",
            expression=cdk.Fn.condition_not(cast(cdk.ICfnConditionExpression, delegated)),
        )

        artifacts = ArtifactBucket(self, "Artifacts", bucket_name=f"sagemaker-project-{project_id}-mlops")
        cast(s3.CfnBucket, artifacts.bucket.node.default_child).override_logical_id("MlOpsArtifactsBucket")
        artifacts.grant_cross_account_read(list(multi.target_accounts))
        registry = ModelRegistry(
            self, "ModelRegistry", group_name=prefix, description=f"Model versions of SageMaker project {project_name}"
        )
        registry.grant_cross_account_read(list(multi.target_accounts))

        source = s3_assets.Asset(self, "ModelDeploySource", path=str(deploy_source_directory()))
        pipeline_role = iam.Role.from_role_arn(self, "PipelineRole", pipeline_role_arn, mutable=False)

        build_project = codebuild.PipelineProject(
            self,
            "ModelDeployBuildProject",
            project_name=f"{resource_base}-build",
            description="Ensures the model package group and prepares the endpoint template of each stage",
            encryption_key=artifacts.key,
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0, compute_type=codebuild.ComputeType.SMALL
            ),
            environment_variables={
                key: codebuild.BuildEnvironmentVariable(value=value)
                for key, value in {
                    "MODEL_PACKAGE_GROUP_NAME": prefix,
                    "RESOURCE_BASE": resource_base,
                    "STAGING_ROLE_NAME": p["SageMakerExecutionRoleStagingName"].value_as_string,
                    "PROD_ROLE_NAME": p["SageMakerExecutionRoleProdName"].value_as_string,
                    "STAGING_INSTANCE_TYPE": config.instance_types.staging_endpoint,
                    "PROD_INSTANCE_TYPE": config.instance_types.prod_endpoint,
                }.items()
            },
            build_spec=_buildspec(
                [
                    f'python3 {DEPLOY_SCRIPT} ensure-group --group "$MODEL_PACKAGE_GROUP_NAME"',
                    f'python3 {DEPLOY_SCRIPT} prepare --group "$MODEL_PACKAGE_GROUP_NAME"'
                    ' --resource-base "$RESOURCE_BASE"'
                    ' --staging-role-name "$STAGING_ROLE_NAME" --prod-role-name "$PROD_ROLE_NAME"'
                    ' --staging-instance-type "$STAGING_INSTANCE_TYPE" --prod-instance-type "$PROD_INSTANCE_TYPE"'
                    " --outdir build",
                    f"cp {' '.join(DEPLOY_SCRIPTS)} build/",
                ],
                artifacts={"base-directory": "build", "files": ["**/*"]},
            ),
        )
        registry.grant_read(build_project)
        build_project.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateModelPackageGroup", "sagemaker:AddTags"], resources=[registry.group_arn]
            )
        )

        stack_sets = {stage: f"{resource_base}-deploy-{stage}" for stage in ("staging", "prod")}
        test_project = codebuild.PipelineProject(
            self,
            "ModelDeployTestProject",
            project_name=f"{resource_base}-test",
            description="Assumes sagemaker-role-<suffix> in each staging account and invokes the staging endpoint",
            role=pipeline_role,
            encryption_key=artifacts.key,
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0, compute_type=codebuild.ComputeType.SMALL
            ),
            environment_variables={
                key: codebuild.BuildEnvironmentVariable(value=value)
                for key, value in {
                    "STACK_SET_NAME": stack_sets["staging"],
                    "TARGET_ROLE_NAME": p["TargetAccountRoleName"].value_as_string,
                    "ENDPOINT_NAME": f"{resource_base}-staging",
                    "CALL_AS": "SELF",
                }.items()
            },
            build_spec=_buildspec(
                [
                    f'python3 {DEPLOY_SCRIPT} test --stack-set "$STACK_SET_NAME" --role-name "$TARGET_ROLE_NAME"'
                    ' --endpoint "$ENDPOINT_NAME" --region "$AWS_REGION" --call-as "$CALL_AS"',
                ]
            ),
        )
        stack_set_project = codebuild.PipelineProject(
            self,
            "StackSetDeployProject",
            project_name=f"{resource_base}-deploy-stackset",
            description="Delegated administrator accounts: deploys a stage's stack set with CallAs=DELEGATED_ADMIN",
            role=pipeline_role,
            encryption_key=artifacts.key,
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0, compute_type=codebuild.ComputeType.SMALL
            ),
            build_spec=_buildspec(
                [
                    f'python3 {DEPLOY_SCRIPT} deploy-stack-set --name "$STACK_SET_NAME" --parameters "$PARAMETERS_FILE"'
                    ' --ou "$OU_ID" --region "$AWS_REGION" --call-as "$CALL_AS"',
                ]
            ),
        )
        cast(codebuild.CfnProject, stack_set_project.node.default_child).cfn_options.condition = delegated

        staging = StageTarget(
            stack_sets["staging"], p["OrganizationalUnitStagingId"].value_as_string, STAGE_PARAMETER_FILES["staging"]
        )
        prod = StageTarget(
            stack_sets["prod"], p["OrganizationalUnitProdId"].value_as_string, STAGE_PARAMETER_FILES["prod"]
        )
        self.pipelines = {}
        for variant, is_delegated, condition in (
            ("Pipeline", False, native),
            ("DelegatedAdminPipeline", True, delegated),
        ):
            pipeline = MultiAccountPipeline(
                self,
                variant,
                pipeline_name=resource_base,
                artifact_bucket=artifacts.bucket,
                source_bucket=source.bucket,
                source_key=source.s3_object_key,
                build_project=build_project,
                test_project=test_project,
                stack_set_project=stack_set_project,
                staging=staging,
                prod=prod,
                delegated_admin=is_delegated,
                model_package_group_name=prefix,
                rule_name=f"{prefix}-deploy",
            )
            pipeline.apply_condition(condition)
            self.pipelines[variant] = pipeline

        self._suppress_findings()
        cdk.CfnOutput(
            self,
            "ArtifactBucketName",
            value=artifacts.bucket.bucket_name,
            description="Store the project's model artifacts here: staging and production may read them",
        )
        cdk.CfnOutput(self, "ModelPackageGroupName", value=prefix)
        cdk.CfnOutput(self, "PipelineName", value=resource_base)
        cdk.CfnOutput(self, "StackSetStagingName", value=stack_sets["staging"])
        cdk.CfnOutput(self, "StackSetProdName", value=stack_sets["prod"])

    def _parameters(self, config: PlatformConfig) -> dict[str, cdk.CfnParameter]:
        multi = config.multi_account
        assert multi is not None

        def param(name: str, description: str, **constraints: Any) -> cdk.CfnParameter:
            return string_parameter(self, name, description, **constraints)

        return {
            "SageMakerProjectName": param(
                "SageMakerProjectName",
                "Name of the project (set by SageMaker)",
                min_length=1,
                max_length=15,
                allowed_pattern=PROJECT_NAME_PATTERN,
                constraint_description=PROJECT_NAME_CONSTRAINT,
            ),
            "SageMakerProjectId": param(
                "SageMakerProjectId",
                "Service-generated ID of the project (set by SageMaker)",
                min_length=1,
                max_length=16,
            ),
            "SageMakerExecutionRoleStagingName": param(
                "SageMakerExecutionRoleStagingName",
                "Name of the SageMaker execution role in the staging account(s) (output of the target-account stack)",
                default=multi.execution_role_name,
                allowed_pattern=ROLE_NAME_PATTERN,
            ),
            "SageMakerExecutionRoleProdName": param(
                "SageMakerExecutionRoleProdName",
                "Name of the SageMaker execution role in the production account(s)",
                default=multi.execution_role_name,
                allowed_pattern=ROLE_NAME_PATTERN,
            ),
            "OrganizationalUnitStagingId": param(
                "OrganizationalUnitStagingId",
                "ID of the staging OU (ou-...)",
                default=multi.staging_ou_id,
                allowed_pattern=OU_PATTERN,
                constraint_description="an Organizations OU ID such as ou-ab12-cd34ef56",
            ),
            "OrganizationalUnitProdId": param(
                "OrganizationalUnitProdId",
                "ID of the production OU (ou-...)",
                default=multi.prod_ou_id,
                allowed_pattern=OU_PATTERN,
                constraint_description="an Organizations OU ID such as ou-ab12-cd34ef56",
            ),
            "TargetAccountRoleName": param(
                "TargetAccountRoleName",
                "Role TestStaging assumes in each staging account (sagemaker-role-<suffix>)",
                default=multi.target_role_name,
                allowed_pattern="^sagemaker-role-[a-z]{1,10}$",
            ),
            "DelegatedAdmin": param(
                "DelegatedAdmin",
                "true when this account is a StackSets delegated administrator (not the management "
                "account): stack sets are then deployed by CodeBuild with CallAs=DELEGATED_ADMIN",
                default=str(multi.delegated_admin).lower(),
                allowed_values=["true", "false"],
            ),
        }

    def _suppress_findings(self) -> None:
        NagSuppressions.add_stack_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "CDK's pipeline and CodeBuild grants use object wildcards on this project's artifact "
                        "bucket and deploy source object, KMS data-key wildcards on the project key, and "
                        "report-group/log wildcards named after this project's CodeBuild projects."
                    ),
                },
            ],
        )
