"""Launch role of the Service Catalog products: what CloudFormation may create for a project.

Service Catalog names provisioned-product stacks `SC-<account>-pp-<id>`, and CloudFormation
derives names of unnamed resources from the stack name, so grants are limited to `SC-*` names;
project-named resources use the naming of the templates. Beyond names:

- only Service Catalog of this account may assume it (`aws:SourceAccount`);
- stack actions only on `SC-*` stacks (template validation takes no resource);
- a role may only be created, or given policies, with the platform's permissions boundary, which
  can never be removed; roles are passed only to the services the templates hand them to;
- KMS only on keys the templates create (tagged with the platform's name), SSM only on the
  platform's parameters; EventBridge only on the projects' rule names.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

# Tag every product template puts on its resources; KMS actions require it.
PLATFORM_TAG = "mlops-platform"
# Services the templates pass roles to (Lambda functions, CodePipeline, CodeBuild, EventBridge targets).
PASSED_TO = ["lambda.amazonaws.com", "codepipeline.amazonaws.com", "codebuild.amazonaws.com", "events.amazonaws.com"]
MANAGED_POLICIES = [
    "service-role/AWSLambdaBasicExecutionRole",
    "service-role/AWSLambdaVPCAccessExecutionRole",
]


class ProductLaunchRole(Construct):
    """Role Service Catalog assumes to provision the project templates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset_bucket_name: str,
        platform_name: str,
        permissions_boundary_arn: str,
        role_paths: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        def arn(service: str, resource: str, name: str, *, colon: bool = False, region: str | None = None) -> str:
            return stack.format_arn(
                service=service,
                resource=resource,
                resource_name=name,
                region=region,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME if colon else cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "servicecatalog.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Service Catalog launch role of the SageMaker project templates with GitLab",
        )
        stacks = arn("cloudformation", "stack", f"SC-{stack.account}-pp-*/*")
        roles = [
            arn("iam", "role", f"{path.strip('/')}/SC-*" if path != "/" else "SC-*", region="") for path in role_paths
        ]
        with_boundary = {"StringEquals": {"iam:PermissionsBoundary": permissions_boundary_arn}}
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
                    "cloudformation:ListStackResources",
                ],
                resources=[stacks],
            ),
            iam.PolicyStatement(
                sid="InspectTemplates",
                actions=["cloudformation:ValidateTemplate", "cloudformation:GetTemplateSummary"],
                resources=["*"],  # read-only; they act on a template, not on a resource
            ),
            iam.PolicyStatement(
                sid="ReadProductAssets",
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{asset_bucket_name}/*"],
            ),
            iam.PolicyStatement(
                sid="ReadProvisioningTemplates",
                actions=["s3:GetObject"],
                resources=["*"],
                # The template copies Service Catalog keeps for provisioning carry this tag.
                conditions={"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}},
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
                    "s3:DeleteBucketPolicy",
                ],
                resources=[f"arn:{stack.partition}:s3:::sagemaker-project-*", f"arn:{stack.partition}:s3:::sc-*"],
            ),
            iam.PolicyStatement(
                sid="CreateRolesWithTheBoundary",
                actions=["iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"],
                resources=roles,
                conditions=with_boundary,
            ),
            iam.PolicyStatement(
                sid="AttachLambdaManagedPolicies",
                actions=["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                resources=roles,
                conditions={
                    **with_boundary,
                    "ArnEquals": {
                        "iam:PolicyARN": [f"arn:{stack.partition}:iam::aws:policy/{name}" for name in MANAGED_POLICIES]
                    },
                },
            ),
            iam.PolicyStatement(
                sid="ManageProjectRoles",
                actions=[
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:UpdateRole",
                    "iam:TagRole",
                    "iam:DeleteRolePolicy",
                    "iam:GetRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                ],
                resources=roles,
            ),
            iam.PolicyStatement(
                sid="PassProjectRoles",
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": PASSED_TO}},
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
                    "lambda:PutFunctionEventInvokeConfig",
                    "lambda:UpdateFunctionEventInvokeConfig",
                    "lambda:DeleteFunctionEventInvokeConfig",
                ],
                resources=[arn("lambda", "function", "SC-*", colon=True)],
            ),
            iam.PolicyStatement(
                sid="ProjectLogsQueuesTables",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DescribeLogGroups",
                    "logs:TagResource",
                    "logs:AssociateKmsKey",
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:TagQueue",
                    "dynamodb:CreateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:TagResource",
                    "dynamodb:ListTagsOfResource",
                ],
                resources=[
                    arn("logs", "log-group", "SC-*", colon=True),
                    arn("sqs", "", "SC-*").replace(":/", ":"),
                    arn("dynamodb", "table", "SC-*"),
                ],
            ),
            iam.PolicyStatement(
                sid="ProjectRules",
                actions=[
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:DescribeRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                    "events:TagResource",
                ],
                # `<project>-<id>-approved` (GitLab template) and generated `SC-*` names (multi-account).
                resources=[arn("events", "rule", "*-approved"), arn("events", "rule", "SC-*")],
            ),
            iam.PolicyStatement(
                sid="ProjectModelRegistry",
                actions=[
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DeleteModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:AddTags",
                    "sagemaker:PutModelPackageGroupPolicy",
                    "sagemaker:DeleteModelPackageGroupPolicy",
                ],
                resources=[arn("sagemaker", "model-package-group", "*")],
            ),
            iam.PolicyStatement(
                sid="CreatePlatformKeys",
                actions=["kms:CreateKey", "kms:TagResource"],
                resources=["*"],  # CreateKey takes no resource: the request's tag limits it
                conditions={"StringEquals": {f"aws:RequestTag/{PLATFORM_TAG}": platform_name}},
            ),
            iam.PolicyStatement(
                sid="UsePlatformKeys",
                actions=[
                    "kms:PutKeyPolicy",
                    "kms:GetKeyPolicy",
                    "kms:EnableKeyRotation",
                    "kms:GetKeyRotationStatus",
                    "kms:DescribeKey",
                    "kms:ListResourceTags",
                    "kms:ScheduleKeyDeletion",
                    "kms:CreateGrant",
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:GenerateDataKey",
                ],
                resources=[arn("kms", "key", "*")],
                conditions={"StringEquals": {f"aws:ResourceTag/{PLATFORM_TAG}": platform_name}},
            ),
            iam.PolicyStatement(
                sid="PlatformParameters",
                actions=["ssm:GetParameters"],
                resources=[arn("ssm", "parameter", f"{platform_name}/*")],
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
                        "Wildcards are the names CloudFormation derives from the SC-* stack name (roles, functions, "
                        "log groups, queues, tables), the projects' bucket and rule names, keys tagged with this "
                        "platform (aws:ResourceTag), template objects tagged by Service Catalog, and two "
                        "resource-less actions (ValidateTemplate/GetTemplateSummary, kms:CreateKey with a request tag)."
                    ),
                }
            ],
            apply_to_children=True,
        )
