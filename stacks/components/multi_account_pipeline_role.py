"""The data science account's pipeline role that the target accounts' `sagemaker-role-<suffix>` trusts.

One role per platform (not per project) because the target-account stacks are deployed once per
account and name the role they trust by ARN (`PipelineExecutionRoleArn`). It runs the CodeBuild
steps of every "Multi Account Deployment" project that reach into the target accounts: TestStaging
(assume the target role, invoke the staging endpoint) and, for StackSets delegated administrators,
the DeployResources* steps that call the StackSet API with `CallAs=DELEGATED_ADMIN`.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

# Names the multi-account product gives what this role works on.
STACK_SET_PREFIX = "sagemaker-"
CODEBUILD_PROJECT_PREFIX = "sagemaker-"
ARTIFACT_BUCKET_PREFIX = "sagemaker-project-"


class MultiAccountPipelineRole(Construct):
    """Role with a literal name, assumed by CodeBuild, allowed into the configured target accounts only."""

    def trust_roles_under_path(self, path: str) -> None:
        """Let roles of this account under the IAM `path` (e.g. `/platform/deploy-ci/`) assume this role.

        The condition is on the caller's role ARN (`aws:PrincipalArn`), which STS sets from the
        calling role itself: unlike a principal tag, no principal can claim it for itself.
        """
        if not (path.startswith("/") and path.endswith("/") and len(path) > 2):
            raise ValueError(f"an IAM path starts and ends with '/' and is not the root (got {path!r})")
        self.role.assume_role_policy.add_statements(  # type: ignore[union-attr]
            iam.PolicyStatement(
                sid="DeployCiRolesOfThisAccount",
                actions=["sts:AssumeRole"],
                principals=[iam.AccountPrincipal(self._account)],
                conditions={"ArnLike": {"aws:PrincipalArn": f"arn:{self._partition}:iam::{self._account}:role{path}*"}},
            )
        )

    def __init__(
        self, scope: Construct, construct_id: str, *, role_name: str, target_accounts: list[str], target_role_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Multi-account deploy pipelines: assumes sagemaker-role-<suffix> in staging and production",
        )
        self.role_arn = f"arn:{stack.partition}:iam::{stack.account}:role/{role_name}"
        stack_sets = [
            stack.format_arn(service="cloudformation", resource="stackset", resource_name=f"{STACK_SET_PREFIX}*:*"),
            stack.format_arn(service="cloudformation", resource="stackset-target", resource_name="*"),
            stack.format_arn(
                service="cloudformation", resource="type", resource_name="resource/*", region="", account=""
            ),
        ]
        statements = [
            iam.PolicyStatement(
                sid="AssumeTargetAccountRoles",
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:{stack.partition}:iam::{account}:role/{target_role_name}" for account in target_accounts
                ],
            ),
            iam.PolicyStatement(
                sid="StackSets",
                actions=[
                    "cloudformation:CreateStackSet",
                    "cloudformation:UpdateStackSet",
                    "cloudformation:DescribeStackSet",
                    "cloudformation:DescribeStackSetOperation",
                    "cloudformation:CreateStackInstances",
                    "cloudformation:ListStackInstances",
                ],
                resources=stack_sets,
            ),
            iam.PolicyStatement(
                sid="BuildLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/aws/codebuild/{CODEBUILD_PROJECT_PREFIX}*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="ReadPipelineArtifacts",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"arn:{stack.partition}:s3:::{ARTIFACT_BUCKET_PREFIX}*/*"],
                conditions={"StringEquals": {"s3:ResourceAccount": stack.account}},
            ),
            iam.PolicyStatement(
                sid="DecryptPipelineArtifacts",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[stack.format_arn(service="kms", resource="key", resource_name="*")],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        self._account = stack.account
        self._partition = stack.partition
        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Shared by every multi-account project: wildcards are limited to the sagemaker-* stack "
                        "sets and CodeBuild log groups, the projects' sagemaker-project-* artifact buckets of "
                        "this account and this account's keys through S3 only."
                    ),
                }
            ],
            apply_to_children=True,
        )
