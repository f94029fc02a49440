"""Launch role of the Service Catalog products: what CloudFormation may create for a project.

Service Catalog names provisioned-product stacks `SC-<account>-pp-<id>`, and CloudFormation
derives names of unnamed resources from the stack name, so most grants are limited to `SC-*`
names; project-named resources use the SageMaker naming of the template.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct


class ProductLaunchRole(Construct):
    """Role Service Catalog assumes to provision the project templates."""

    def __init__(self, scope: Construct, construct_id: str, *, asset_bucket_name: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        def arn(
            service: str,
            resource: str,
            name: str,
            *,
            colon: bool = False,
            region: str | None = None,
            account: str | None = None,
        ) -> str:
            return stack.format_arn(
                service=service,
                resource=resource,
                resource_name=name,
                region=region,
                account=account,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME if colon else cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("servicecatalog.amazonaws.com"),
            description="Service Catalog launch role of the SageMaker project templates with GitLab",
        )
        statements = [
            iam.PolicyStatement(
                sid="ProvisionStacks",
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:SetStackPolicy",
                    "cloudformation:GetTemplateSummary",
                    "cloudformation:ValidateTemplate",
                    "cloudformation:ListStackResources",
                ],
                resources=[arn("cloudformation", "stack", "SC-*"), "*"],
            ),
            iam.PolicyStatement(
                sid="ReadTemplatesAndAssets",
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{stack.partition}:s3:::{asset_bucket_name}/*",
                    f"arn:{stack.partition}:s3:::cdk-*/*",
                    f"arn:{stack.partition}:s3:::sc-*/*",
                ],
            ),
            iam.PolicyStatement(
                sid="ProjectBuckets",
                actions=[
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    "s3:PutBucket*",
                    "s3:GetBucket*",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:PutBucketPolicy",
                    "s3:DeleteBucketPolicy",
                ],
                resources=[f"arn:{stack.partition}:s3:::sagemaker-project-*", f"arn:{stack.partition}:s3:::sc-*"],
            ),
            iam.PolicyStatement(
                sid="ProjectRoles",
                actions=[
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:UpdateRole",
                    "iam:TagRole",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:GetRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PassRole",
                ],
                resources=[arn("iam", "role", "SC-*", region="")],
            ),
            iam.PolicyStatement(
                sid="ProjectFunctions",
                actions=[
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:GetFunction",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                    "lambda:InvokeFunction",
                    "lambda:TagResource",
                    "lambda:GetFunctionConfiguration",
                ],
                resources=[arn("lambda", "function", "SC-*", colon=True)],
            ),
            iam.PolicyStatement(
                sid="ProjectLogsQueuesRules",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DescribeLogGroups",
                    "logs:TagResource",
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:TagQueue",
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:DescribeRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                ],
                resources=[
                    arn("logs", "log-group", "SC-*", colon=True),
                    arn("sqs", "", "SC-*").replace(":/", ":"),
                    arn("events", "rule", "*"),
                ],
            ),
            iam.PolicyStatement(
                sid="ProjectRegistryAndKeys",
                actions=[
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DeleteModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:AddTags",
                    "sagemaker:PutModelPackageGroupPolicy",
                    "sagemaker:DeleteModelPackageGroupPolicy",
                    "kms:CreateKey",
                    "kms:PutKeyPolicy",
                    "kms:EnableKeyRotation",
                    "kms:DescribeKey",
                    "kms:TagResource",
                    "kms:ScheduleKeyDeletion",
                    "kms:CreateGrant",
                    "kms:GenerateDataKey",
                    "kms:Decrypt",
                    "ssm:GetParameters",
                ],
                resources=[
                    arn("sagemaker", "model-package-group", "*"),
                    arn("kms", "key", "*"),
                    arn("ssm", "parameter", "*"),
                ],
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "A launch role creates resources whose names CloudFormation generates from the "
                        "SC-* stack name or SageMaker derives from the project; wildcards are limited to "
                        "those name patterns, and to actions (Validate/GetTemplateSummary, kms:CreateKey) "
                        "that take no resource."
                    ),
                }
            ],
            apply_to_children=True,
        )
