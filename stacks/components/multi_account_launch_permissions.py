"""What the portfolio's launch role additionally needs to provision "Multi Account Deployment" projects.

The product creates CodePipeline pipelines and CodeBuild projects named `sagemaker-<project>-<id>*`
and hands the platform's multi-account pipeline role to CodeBuild; everything else it creates
(bucket, key, roles, rules, model package group) is already covered by `ProductLaunchRole`.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct


class MultiAccountLaunchPermissions(Construct):
    """Policy attached to the launch role for the multi-account product."""

    def __init__(self, scope: Construct, construct_id: str, *, launch_role: iam.IRole, pipeline_role_arn: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[launch_role],
            statements=[
                iam.PolicyStatement(
                    sid="DeployPipelines",
                    actions=[
                        "codepipeline:CreatePipeline",
                        "codepipeline:UpdatePipeline",
                        "codepipeline:DeletePipeline",
                        "codepipeline:GetPipeline",
                        "codepipeline:GetPipelineState",
                        "codepipeline:TagResource",
                    ],
                    resources=[stack.format_arn(service="codepipeline", resource="sagemaker-*")],
                ),
                iam.PolicyStatement(
                    sid="DeployBuildProjects",
                    actions=[
                        "codebuild:CreateProject",
                        "codebuild:UpdateProject",
                        "codebuild:DeleteProject",
                        "codebuild:BatchGetProjects",
                    ],
                    resources=[stack.format_arn(service="codebuild", resource="project", resource_name="sagemaker-*")],
                ),
                iam.PolicyStatement(
                    sid="PassMultiAccountPipelineRole",
                    actions=["iam:PassRole"],
                    resources=[pipeline_role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}},
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "The launch role creates pipelines and CodeBuild projects whose names the product derives "
                        "from the project (sagemaker-<project>-<id>*); the wildcard covers exactly that naming."
                    ),
                }
            ],
        )
