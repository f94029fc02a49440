"""Stack deployed into each target account (staging, production) of multi-account promotion.

It needs no CDK bootstrap (no assets, CLI credentials): deploy it with
`npx cdk deploy <name>-target-staging` using credentials of the staging account, or upload the
synthesized `cdk.out/<name>-target-staging.template.json` in the CloudFormation console.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.components.target_account_role import TargetAccountRoles
from stacks.config import MultiAccountConfig

ROLE_SUFFIX_PATTERN = "^[a-z]{1,10}$"
ROLE_ARN_PATTERN = "^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\w+=,.@/-]+$"


class TargetAccountStack(cdk.Stack):
    """`sagemaker-role-<suffix>` and the endpoints' SageMaker execution role of one target account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        multi_account: MultiAccountConfig,
        pipeline_role_arn: str,
        stage: str,
        env: cdk.Environment,
    ) -> None:
        super().__init__(scope, construct_id, synthesizer=cdk.CliCredentialsStackSynthesizer(), env=env)
        suffix = cdk.CfnParameter(
            self,
            "SageMakerRoleSuffix",
            type="String",
            default=multi_account.target_role_suffix,
            min_length=1,
            max_length=10,
            allowed_pattern=ROLE_SUFFIX_PATTERN,
            description="Suffix of the role name sagemaker-role-<suffix> (at most 10 lowercase letters)",
            constraint_description="at most 10 lowercase letters (a-z), no spaces, digits or symbols",
        )
        pipeline_role = cdk.CfnParameter(
            self,
            "PipelineExecutionRoleArn",
            type="String",
            default=pipeline_role_arn,
            allowed_pattern=ROLE_ARN_PATTERN,
            description="ARN of the data science account's pipeline role; the only principal that may assume "
            "sagemaker-role-<suffix>",
            constraint_description="an IAM role ARN such as arn:aws:iam::111111111111:role/name",
        )
        prefix = cdk.CfnParameter(
            self,
            "ResourcePrefix",
            type="String",
            default=multi_account.resource_prefix,
            allowed_pattern="^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$",
            description="Name prefix of the SageMaker models, endpoint configs and endpoints the role may manage",
        )
        bucket_prefix = cdk.CfnParameter(
            self,
            "ArtifactBucketPrefix",
            type="String",
            default="sagemaker-project-",
            allowed_pattern="^[a-z0-9][a-z0-9.-]{0,40}$",
            description="Name prefix of the data science account's buckets holding model artifacts",
        )
        data_science_account = cdk.Fn.select(4, cdk.Fn.split(":", pipeline_role.value_as_string))
        self.roles = TargetAccountRoles(
            self,
            "Roles",
            role_suffix=suffix.value_as_string,
            pipeline_role_arn=pipeline_role.value_as_string,
            data_science_account=data_science_account,
            resource_prefix=prefix.value_as_string,
            artifact_bucket_prefix=bucket_prefix.value_as_string,
        )
        self.template_options.description = (
            f"MLOps multi-account promotion: {stage} target-account roles for the data science account's pipeline"
        )
        cdk.CfnOutput(
            self,
            "SageMakerRoleArn",
            value=self.roles.deploy_role.role_arn,
            description="Role the data science pipeline assumes (deploy and test)",
        )
        cdk.CfnOutput(
            self,
            "SageMakerExecutionRoleName",
            value=self.roles.execution_role.role_name,
            description=f"Pass as SageMakerExecutionRole{'Staging' if stage == 'staging' else 'Prod'}Name "
            "when creating a Multi Account Deployment project",
        )
