"""Roles in a staging or production account that the data science account's pipeline deploys through.

- `sagemaker-role-<suffix>`: trusted by one role of the data science account only (the pipeline
  role); it may deploy and test the endpoint stack and nothing more: CloudFormation on
  `sagemaker-*` stacks, SageMaker models/endpoint configs/endpoints named with the project prefix,
  InvokeEndpoint, reading CloudWatch metrics (the staging test's ModelLatency), and passing the execution
  role to SageMaker.
- `sagemaker-execution-role-<suffix>`: the role the endpoints' models run as; it reads model
  artifacts from the data science account's artifact buckets (and their KMS keys, through S3
  only) and pulls images from that account's ECR.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct


class TargetAccountRoles(Construct):
    """The deploy role and the SageMaker execution role of one target account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_suffix: str,
        pipeline_role_arn: str,
        data_science_account: str,
        resource_prefix: str,
        artifact_bucket_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        def arn(service: str, resource: str, name: str, *, account: str | None = None) -> str:
            return stack.format_arn(service=service, resource=resource, resource_name=name, account=account)

        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            role_name=f"sagemaker-execution-role-{role_suffix}",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker execution role of endpoints deployed from the data science account",
        )
        in_data_science_account = {"StringEquals": {"s3:ResourceAccount": data_science_account}}
        for statement in [
            iam.PolicyStatement(
                sid="ReadModelArtifacts",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"arn:{stack.partition}:s3:::{artifact_bucket_prefix}*/*"],
                conditions=in_data_science_account,
            ),
            iam.PolicyStatement(
                sid="ListModelArtifacts",
                actions=["s3:ListBucket"],
                resources=[f"arn:{stack.partition}:s3:::{artifact_bucket_prefix}*"],
                conditions=in_data_science_account,
            ),
            iam.PolicyStatement(
                sid="DecryptModelArtifacts",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[arn("kms", "key", "*", account=data_science_account)],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
            iam.PolicyStatement(sid="EcrToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                sid="PullImages",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[arn("ecr", "repository", "*", account=data_science_account)],
            ),
            iam.PolicyStatement(
                sid="EndpointLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        ]:
            self.execution_role.add_to_policy(statement)

        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            role_name=f"sagemaker-role-{role_suffix}",
            assumed_by=iam.ArnPrincipal(pipeline_role_arn),
            description="Assumed by the data science account's pipeline role to deploy and test endpoints",
            max_session_duration=cdk.Duration.hours(1),
        )
        for statement in [
            iam.PolicyStatement(
                sid="EndpointStacks",
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:GetTemplate",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                ],
                resources=[arn("cloudformation", "stack", "sagemaker-*/*")],
            ),
            iam.PolicyStatement(
                sid="Endpoints",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:AddTags",
                ],
                resources=[
                    arn("sagemaker", "model", f"{resource_prefix}*"),
                    arn("sagemaker", "endpoint-config", f"{resource_prefix}*"),
                    arn("sagemaker", "endpoint", f"{resource_prefix}*"),
                ],
            ),
            iam.PolicyStatement(
                sid="ReadEndpointLatency",
                # The staging test reads the endpoint's ModelLatency percentiles; GetMetricData takes no resource.
                actions=["cloudwatch:GetMetricData"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="PassExecutionRole",
                actions=["iam:PassRole"],
                resources=[self.execution_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        ]:
            self.deploy_role.add_to_policy(statement)

        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Wildcards stay within sagemaker-* stacks, the project name prefix of SageMaker "
                        "resources, the data science account's artifact buckets (s3:ResourceAccount), its keys "
                        "(via S3 only) and ECR repositories; ecr:GetAuthorizationToken and cloudwatch:GetMetricData "
                        "have no resource."
                    ),
                }
            ],
            apply_to_children=True,
        )
