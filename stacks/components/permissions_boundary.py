"""The permissions boundary of every role the product templates create.

The launch role may create a role only with this boundary attached (and may never remove it),
so whatever a product template puts in a role's policies, the role can never do more than this
ceiling: use the services the projects run on, pass and assume roles of this account, and read
the configured GitLab token secrets only. No IAM management, no other secret, no Organizations.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks

# Services the project roles (SageMaker jobs and endpoints, GitLab CI, the Lambdas, the multi-account
# pipeline) work with; each role's own policy scopes the resources.
PROJECT_SERVICES = [
    "application-autoscaling:*",
    "cloudformation:*",
    "cloudwatch:*",
    "codebuild:*",
    "codepipeline:*",
    "dynamodb:*",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
    "events:*",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "lambda:GetFunction",
    "lambda:InvokeFunction",
    "logs:*",
    "s3:*",
    "sagemaker:*",
    "sqs:*",
]
SKIP_REASON = (
    "This managed policy is a permissions boundary: it grants nothing by itself, it caps the roles the product "
    "templates create, whose own policies scope every resource; it allows no IAM management."
)


class ProjectPermissionsBoundary(Construct):
    """Managed policy with a literal name (product templates refer to it by ARN)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, policy_name: str, token_secret_arns: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        roles = f"arn:{stack.partition}:iam::{stack.account}:role/*"
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=policy_name,
            description="Permissions boundary of every role the SageMaker project templates create",
            statements=[
                iam.PolicyStatement(sid="ProjectServices", actions=PROJECT_SERVICES, resources=["*"]),
                iam.PolicyStatement(
                    sid="RolesOfThisAccount", actions=["iam:PassRole", "sts:AssumeRole"], resources=[roles]
                ),
                iam.PolicyStatement(
                    sid="ConfiguredGitLabTokens",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=sorted(set(token_secret_arns)),
                ),
            ],
        )
        self.policy_arn = f"arn:{stack.partition}:iam::{stack.account}:policy/{policy_name}"
        skip_checks(
            self.policy,
            {check: SKIP_REASON for check in ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_111")},
        )
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [{"id": "AwsSolutions-IAM5", "reason": SKIP_REASON}],
        )
