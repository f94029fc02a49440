"""IAM roles of one SageMaker project: the two SageMaker execution roles and the two GitLab CI roles.

GitLab CI jobs get AWS credentials through GitLab's OIDC ID tokens: each CI role trusts only the
platform's OIDC provider, only the `sts.amazonaws.com` audience, and only jobs of its own
repository running on the default branch (which GitLab protects by default). Access keys in CI
variables stay a documented fallback, not the default.

Everything is scoped to this project by its ID, so project `abc` cannot touch `abc-def`'s
resources: SageMaker names carry `<name>-<id>` (lower-cased, as SageMaker writes them in ARNs),
endpoints are named exactly `<name>-staging`/`<name>-prod`, endpoint resources are used only
when tagged `sagemaker:project-id=<id>` (the deploy stacks' tags, which CloudFormation passes on),
stacks and their alarms are named `sagemaker-<name>-<id>-deploy-<stage>`.
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.model_registry import ModelRegistry

PROJECT_ID_TAG = "sagemaker:project-id"
STAGES = ("staging", "prod")


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


def deploy_stack_name(prefix: str, stage: str) -> str:
    """The endpoint stack the deploy repository's CI creates (seedcode/model-deploy/deploy.py)."""
    return f"sagemaker-{prefix}-deploy-{stage}"


class ProjectRoles(Construct):
    """Least-privilege roles for the build pipeline, the endpoints and the two CI pipelines."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project_name: str,
        project_id: str,
        name_lower: str,
        prefix_lower: str,
        artifacts: ArtifactBucket,
        registry: ModelRegistry,
        oidc_provider_arn: str,
        oidc_provider_host: str,
        oidc_audience: str,
        model_build_project_path: str,
        model_deploy_project_path: str,
        default_branch: str,
        deploy_ci_role_path: str,
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
                    arn("processing-job", f"{prefix_lower}*"),
                    arn("training-job", f"{prefix_lower}*"),
                    # SageMaker Pipelines names the jobs of a step `pipelines-<execution id>-<step>-<hash>`.
                    arn("processing-job", "pipelines-*"),
                    arn("training-job", "pipelines-*"),
                ],
            )
        )
        self.pipeline_role.add_to_policy(pass_to_sagemaker(self.pipeline_role))

        # Role the endpoints' models run as: read the model artifacts, write data capture, nothing else.
        self.endpoint_role = iam.Role(
            self,
            "EndpointExecutionRole",
            assumed_by=sagemaker,
            description=f"SageMaker endpoint execution role of project {prefix}",
        )
        # The build pipeline writes models to s3://<bucket>/<name>-<id>/<execution>/model/ (pipeline.py).
        artifacts.bucket.grant_read(self.endpoint_role, f"{prefix}/*/model/*")
        # Data capture is written with the model's execution role, below the deploy's capture prefix only.
        artifacts.bucket.grant_put(self.endpoint_role, "datacapture-*")
        for statement in [logs_statement, *ecr_statements]:
            self.endpoint_role.add_to_policy(statement)
        self.endpoint_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
            )
        )

        def ci_role(construct_id: str, *, project_path: str, repository: str, path: str | None = None) -> iam.Role:
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
                path=path,
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
                resources=[arn("pipeline", f"{prefix_lower}*"), arn("pipeline", f"{prefix_lower}*/execution/*")],
            )
        )
        # The run's cost report: the billable seconds of the jobs the pipeline's steps ran (read only).
        self.build_ci_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                ],
                resources=[
                    arn("processing-job", f"{prefix_lower}*"),
                    arn("training-job", f"{prefix_lower}*"),
                    arn("processing-job", "pipelines-*"),
                    arn("training-job", "pipelines-*"),
                    arn("hyper-parameter-tuning-job", "*"),
                ],
            )
        )
        self.build_ci_role.add_to_policy(pass_to_sagemaker(self.pipeline_role))

        # GitLab CI of the model deploy repo: deploy the endpoint stacks and invoke staging. Its
        # path marks it for the shared multi-account pipeline role's trust (ArnLike on the path).
        self.deploy_ci_role = ci_role(
            "DeployCiRole",
            project_path=model_deploy_project_path,
            repository="model deploy",
            path=deploy_ci_role_path,
        )
        artifacts.grant_read(self.deploy_ci_role)
        registry.grant_read(self.deploy_ci_role)
        for statement in self._deploy_statements(
            stack, arn, prefix=prefix, name_lower=name_lower, project_id=project_id
        ):
            self.deploy_ci_role.add_to_policy(statement)
        self.deploy_ci_role.add_to_policy(pass_to_sagemaker(self.endpoint_role))

        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Wildcards are scoped to this project: its <name>-<id> prefix, its bucket's model and "
                        "data-capture prefixes (KMS actions on its own key), endpoint resources tagged with its "
                        "project ID, its deploy stacks' alarms; listing the training jobs of a tuning job "
                        "(SageMaker Pipelines names tuning jobs itself; read only); ECR pulls "
                        "(GetAuthorizationToken has no resource), "
                        "SageMaker variant auto scaling (scalable targets have generated IDs) and reading metrics "
                        "(cloudwatch:GetMetricData has no resource)."
                    ),
                }
            ],
            apply_to_children=True,
        )

    @staticmethod
    def _deploy_statements(
        stack: cdk.Stack,
        sagemaker_arn: Callable[[str, str], str],
        *,
        prefix: str,
        name_lower: str,
        project_id: str,
    ) -> list[iam.PolicyStatement]:
        """What the deploy CI role may do: its two endpoint stacks and what they contain."""
        stacks = [
            stack.format_arn(
                service="cloudformation", resource="stack", resource_name=f"{deploy_stack_name(prefix, s)}/*"
            )
            for s in STAGES
        ]
        endpoints = [sagemaker_arn("endpoint", f"{name_lower}-{stage}") for stage in STAGES]
        models_and_configs = [sagemaker_arn("model", "*"), sagemaker_arn("endpoint-config", "*")]
        tagged_request = {"StringEquals": {f"aws:RequestTag/{PROJECT_ID_TAG}": project_id}}
        return [
            iam.PolicyStatement(
                sid="EndpointStacks",
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DeleteStack",
                ],
                resources=stacks,
            ),
            iam.PolicyStatement(
                sid="CreateTaggedEndpointResources",
                actions=["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint"],
                resources=[*models_and_configs, *endpoints],
                conditions=tagged_request,
            ),
            iam.PolicyStatement(
                sid="TagOnCreateOnly",
                actions=["sagemaker:AddTags"],
                resources=[*models_and_configs, *endpoints],
                # Only as part of those creations: a bare AddTags could re-tag another project's resource.
                conditions={
                    "StringEquals": {
                        f"aws:RequestTag/{PROJECT_ID_TAG}": project_id,
                        "sagemaker:TaggingAction": ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"],
                    }
                },
            ),
            iam.PolicyStatement(
                sid="UseOwnEndpointResources",
                actions=[
                    "sagemaker:DescribeModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:InvokeEndpoint",
                ],
                resources=[*models_and_configs, sagemaker_arn("endpoint", "*")],
                conditions={"StringEquals": {f"aws:ResourceTag/{PROJECT_ID_TAG}": project_id}},
            ),
            iam.PolicyStatement(
                sid="EndpointStackAlarms",
                actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
                # CloudFormation names alarms `<stack name>-<logical id>-<suffix>`.
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=f"{deploy_stack_name(prefix, s)}-*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for s in STAGES
                ],
            ),
            iam.PolicyStatement(
                sid="EndpointAutoScaling",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                ],
                # Scalable targets have generated IDs: scoped to SageMaker variant instance counts.
                resources=[
                    stack.format_arn(service="application-autoscaling", resource="scalable-target", resource_name="*")
                ],
                conditions={
                    "StringEquals": {
                        "application-autoscaling:service-namespace": "sagemaker",
                        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
                    }
                },
            ),
            iam.PolicyStatement(
                sid="DescribeAutoScaling",
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],  # these read-only APIs take no resource
            ),
            iam.PolicyStatement(
                sid="ReadEndpointLatency",
                # The staging test reads the endpoint's ModelLatency percentiles; GetMetricData takes no resource.
                actions=["cloudwatch:GetMetricData"],
                resources=["*"],
            ),
        ]
