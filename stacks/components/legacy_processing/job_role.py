"""SageMaker execution role of the legacy processing jobs (the `role` an execution names)."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

# The pre-built SageMaker scikit-learn images live in a SageMaker account that differs per region.
SCIKIT_LEARN_REPOSITORY = "sagemaker-scikit-learn"
PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


class ProcessingJobRole(Construct):
    """What the three jobs need: read code and input, write output, pull the two images, write logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_bucket_names: Sequence[str],
        data_kms_key_arns: Sequence[str],
        repository: ecr.IRepository,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Execution role of the legacy processing SageMaker Processing jobs",
        )
        buckets = [f"arn:{stack.partition}:s3:::{name}" for name in data_bucket_names]
        objects = [f"{arn}/*" for arn in buckets]
        scikit_learn = f"arn:{stack.partition}:ecr:{stack.region}:*:repository/{SCIKIT_LEARN_REPOSITORY}"
        log_streams = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{PROCESSING_LOG_GROUP}:*"
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=buckets))
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=objects))
        if data_kms_key_arns:  # buckets encrypted with SSE-KMS: read and write their objects
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=list(data_kms_key_arns),
                    conditions={"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
                )
            )
        repository.grant_pull(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[scikit_learn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_streams]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": PROCESSING_LOG_GROUP}},
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Object keys under the configured data buckets are per execution "
                    "(<output_uri>/<execution>/...); the pre-built scikit-learn repository belongs to a per-region "
                    "SageMaker account; SageMaker names the processing job log streams; ecr:GetAuthorizationToken "
                    "and cloudwatch:PutMetricData (limited to the processing namespace) take no resource.",
                    "appliesTo": [f"Resource::{arn}" for arn in (*objects, scikit_learn, log_streams, "*")],
                }
            ],
            apply_to_children=True,
        )
