"""IAM roles of one SageMaker project: the two SageMaker execution roles and the two GitLab CI roles.

GitLab CI jobs get AWS credentials through GitLab's OIDC ID tokens: each CI role trusts only the
platform's OIDC provider, only the `sts.amazonaws.com` audience, and only jobs of its own
repository running on the default branch (which GitLab protects by default). Access keys in CI
variables stay a documented fallback, not the default.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.model_registry import ModelRegistry

# Marks the deploy CI roles of every GitLab project; the shared multi-account pipeline role trusts
# principals of this account carrying it, so GitLab deploys can chain into the target accounts.
DEPLOY_CI_PRINCIPAL_TAG = "mlops-gitlab:deploy-ci"


def gitlab_oidc_principal(
    *, provider_arn: str, provider_host: str, audience: str, project_path: str, branch: str
) -> iam.FederatedPrincipal:
    """Web-identity principal for CI jobs of one GitLab project on one branch."""
    return iam.FederatedPrincipal(
        provider_arn,
        conditions={
            "StringEquals": {
                f"{provider_host}:aud": audience,
                f"{provider_host}:sub": f"project_path:{project_path}:ref_type:branch:ref:{branch}",
            }
        },
        assume_role_action="sts:AssumeRoleWithWebIdentity",
    )


def pass_to_sagemaker(role: iam.IRole) -> iam.PolicyStatement:
    """Allow passing `role`, and only to SageMaker."""
    return iam.PolicyStatement(
        actions=["iam:PassRole"],
        resources=[role.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    )


class ProjectRoles(Construct):
    """Least-privilege roles for the build pipeline, the endpoints and the two CI pipelines."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project_name: str,
        project_id: str,
        artifacts: ArtifactBucket,
        registry: ModelRegistry,
        oidc_provider_arn: str,
        oidc_provider_host: str,
        oidc_audience: str,
        model_build_project_path: str,
        model_deploy_project_path: str,
        default_branch: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        prefix = f"{project_name}-{project_id}"
        sagemaker = iam.ServicePrincipal("sagemaker.amazonaws.com")

        def arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        logs_statement = iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name="/aws/sagemaker/*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        ecr_statements = [
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
            ),
        ]

        # Role SageMaker Pipelines' processing and training jobs run as.
        self.pipeline_role = iam.Role(
            self,
            "PipelineExecutionRole",
            assumed_by=sagemaker,
            description=f"SageMaker Pipelines execution role of project {prefix}",
        )
        artifacts.grant_read_write(self.pipeline_role)
        registry.grant_register(self.pipeline_role)
        for statement in [logs_statement, *ecr_statements]:
            self.pipeline_role.add_to_policy(statement)
        self.pipeline_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=[
                    arn("processing-job", f"{prefix}*"),
                    arn("training-job", f"{prefix}*"),
                    arn("processing-job", "pipelines-*"),
                    arn("training-job", "pipelines-*"),
                ],
            )
        )
        self.pipeline_role.add_to_policy(pass_to_sagemaker(self.pipeline_role))

        # Role the endpoints' models run as: read artifacts, pull images, write logs and metrics.
        self.endpoint_role = iam.Role(
            self,
            "EndpointExecutionRole",
            assumed_by=sagemaker,
            description=f"SageMaker endpoint execution role of project {prefix}",
        )
        artifacts.grant_read_write(self.endpoint_role)  # write: endpoint data capture
        for statement in [logs_statement, *ecr_statements]:
            self.endpoint_role.add_to_policy(statement)
        self.endpoint_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
            )
        )

        def ci_role(construct_id: str, *, project_path: str, repository: str) -> iam.Role:
            return iam.Role(
                self,
                construct_id,
                assumed_by=gitlab_oidc_principal(
                    provider_arn=oidc_provider_arn,
                    provider_host=oidc_provider_host,
                    audience=oidc_audience,
                    project_path=project_path,
                    branch=default_branch,
                ),
                description=f"GitLab CI of the {repository} repository of project {prefix}",
                max_session_duration=cdk.Duration.hours(2),
            )

        # GitLab CI of the model build repo: upsert and start the SageMaker pipeline.
        self.build_ci_role = ci_role("BuildCiRole", project_path=model_build_project_path, repository="model build")
        artifacts.grant_read_write(self.build_ci_role)
        registry.grant_read(self.build_ci_role)
        self.build_ci_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreatePipeline",
                    "sagemaker:UpdatePipeline",
                    "sagemaker:DescribePipeline",
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:DescribePipelineExecution",
                    "sagemaker:ListPipelineExecutionSteps",
                    "sagemaker:AddTags",
                ],
                resources=[arn("pipeline", f"{prefix}*"), arn("pipeline", f"{prefix}*/execution/*")],
            )
        )
        self.build_ci_role.add_to_policy(pass_to_sagemaker(self.pipeline_role))

        # GitLab CI of the model deploy repo: deploy the endpoint stacks and invoke staging.
        self.deploy_ci_role = ci_role("DeployCiRole", project_path=model_deploy_project_path, repository="model deploy")
        cdk.Tags.of(self.deploy_ci_role).add(DEPLOY_CI_PRINCIPAL_TAG, "true")
        artifacts.grant_read(self.deploy_ci_role)
        registry.grant_read(self.deploy_ci_role)
        self.deploy_ci_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DeleteStack",
                ],
                resources=[
                    stack.format_arn(
                        service="cloudformation", resource="stack", resource_name=f"sagemaker-{project_name}-*"
                    )
                ],
            )
        )
        self.deploy_ci_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:AddTags",
                ],
                resources=[
                    arn("model", f"{project_name}-*"),
                    arn("endpoint-config", f"{project_name}-*"),
                    arn("endpoint", f"{project_name}-*"),
                ],
            )
        )
        self.deploy_ci_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                ],
                # Application Auto Scaling and alarm creation through CloudFormation have no
                # resource-level scoping here.
                resources=["*"],
            )
        )
        self.deploy_ci_role.add_to_policy(pass_to_sagemaker(self.endpoint_role))

        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Wildcards are scoped to this project's name prefix, its bucket's objects (KMS "
                        "actions on its own key), ECR pulls (GetAuthorizationToken has no resource), and "
                        "auto scaling/alarm APIs without resource-level permissions."
                    ),
                }
            ],
            apply_to_children=True,
        )
