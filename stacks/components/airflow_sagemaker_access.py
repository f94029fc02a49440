"""SageMaker access of the Airflow variant: the role SageMaker jobs and endpoints run as, and what the
MWAA execution role may do in SageMaker, ECR, the registry and Application Auto Scaling.

Every grant names this platform's projects: jobs, models, endpoint configs and endpoints named
`<project>-*`, model package groups `<project>-<model>`, the artifact bucket's `<project>/` prefix,
the ECR repositories `<project>/<model>`, and target-tracking alarms of `<project>-*` endpoints.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.model_image_repositories import ModelImageRepositories
from stacks.components.project_roles import pass_to_sagemaker

AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"


class AirflowSageMakerAccess(Construct):
    """SageMaker execution role and the orchestration grants of the MWAA role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        projects: list[str],
        models: list[tuple[str, str]],
        artifacts: ArtifactBucket,
        repositories: ModelImageRepositories,
        metrics_namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = cdk.Stack.of(self)
        self._projects = projects
        self._models = models
        self._artifacts = artifacts
        self._repositories = repositories
        self._metrics_namespace = metrics_namespace
        self.role = iam.Role(
            self,
            "SageMakerRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Role of the training/evaluation jobs and endpoints the Airflow DAGs start",
        )
        for project in projects:
            artifacts.bucket.grant_read_write(self.role, f"{project}/*")
        for repository in repositories.repositories.values():
            repository.grant_pull(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self._arn("logs", "log-group", "/aws/sagemaker/*", colon=True)],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Objects under the projects' prefixes of the artifact bucket (and its key through S3), "
                        "SageMaker's own log groups /aws/sagemaker/*, SageMaker's metric namespaces, and "
                        "ecr:GetAuthorizationToken (no resource type)."
                    ),
                }
            ],
            apply_to_children=True,
        )

    def _arn(self, service: str, resource: str, name: str, *, colon: bool = False) -> str:
        return self._stack.format_arn(
            service=service,
            resource=resource,
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME if colon else cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )

    def grant_orchestration(self, role: iam.IRole) -> None:
        """What the DAGs do with the MWAA execution role."""
        names = [f"{project}-*" for project in self._projects]
        groups = [f"{project}-{model}" for project, model in self._models]
        statements = [
            iam.PolicyStatement(
                sid="SageMakerJobs",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                ],
                resources=[
                    self._arn("sagemaker", kind, name) for kind in ("training-job", "processing-job") for name in names
                ],
            ),
            iam.PolicyStatement(
                sid="SageMakerEndpoints",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:AddTags",
                ],
                resources=[
                    self._arn("sagemaker", kind, name)
                    for kind in ("model", "endpoint-config", "endpoint")
                    for name in names
                ],
            ),
            iam.PolicyStatement(
                sid="ModelRegistry",
                actions=[
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages",
                    "sagemaker:AddTags",
                ],
                resources=[
                    *(self._arn("sagemaker", "model-package-group", group) for group in groups),
                    *(self._arn("sagemaker", "model-package", f"{group}/*") for group in groups),
                ],
            ),
            # List calls have no resource type: the names the operators check before they start a job.
            iam.PolicyStatement(
                sid="SageMakerLists",
                actions=["sagemaker:ListTrainingJobs", "sagemaker:ListProcessingJobs"],
                resources=["*"],
            ),
            pass_to_sagemaker(self.role),
            iam.PolicyStatement(
                sid="EvaluationMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": self._metrics_namespace}},
            ),
            iam.PolicyStatement(
                sid="EndpointAutoScaling",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                ],
                resources=[self._arn("application-autoscaling", "scalable-target", "*")],
                conditions={
                    "StringEquals": {
                        "application-autoscaling:service-namespace": "sagemaker",
                        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
                    }
                },
            ),
            iam.PolicyStatement(
                sid="EndpointAutoScalingReads",
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="TargetTrackingAlarms",
                actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                resources=[
                    self._arn("cloudwatch", "alarm", f"TargetTracking-endpoint/{name}", colon=True) for name in names
                ],
            ),
            iam.PolicyStatement(
                sid="AutoScalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    f"arn:{self._stack.partition}:iam::{self._stack.account}:role/aws-service-role/"
                    f"{AUTOSCALING_SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                ],
                conditions={"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
            ),
        ]
        policy = iam.Policy(self, "OrchestrationPolicy", statements=statements)
        policy.attach_to_role(role)
        for project in self._projects:
            self._artifacts.bucket.grant_read_write(role, f"{project}/*")
        self._repositories.grant_describe(role)
        NagSuppressions.add_resource_suppressions(
            policy,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Names are prefixed by a configured project (<project>-*): SageMaker jobs, models, endpoint "
                        "configs, endpoints and target-tracking alarms are created per model version; versions "
                        "of the configured model package groups; List* calls and Application Auto Scaling (limited "
                        "to the sagemaker namespace) have no resource type; metrics only in the evaluation namespace."
                    ),
                }
            ],
        )
