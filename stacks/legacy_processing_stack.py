"""Legacy ML code on SageMaker with Step Functions (seed 04): a standalone stack.

One workflow serves every legacy model: what differs per model (data, scripts, image) is execution
input, so the MLOps engineer deploys this once and data scientists only push images and start
executions. See README "Legacy ML code on SageMaker".
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.components.legacy_processing.inference_repository import InferenceRepository
from stacks.components.legacy_processing.job_role import ProcessingJobRole
from stacks.components.legacy_processing.workflow import LegacyProcessingWorkflow
from stacks.config import LegacyProcessingConfig


class LegacyProcessingStack(cdk.Stack):
    """State machine, ECR repository for the inference image, job role, failure topic and logs."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LegacyProcessingConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key(
            self,
            "Key",
            description="Encrypts the legacy processing workflow's logs, failure topic and inference images",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        log_groups = f"arn:{self.partition}:logs:{self.region}:{self.account}:*"
        # CloudWatch Logs encrypts the workflow's log group with the key, for log groups of this account only.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
        self.repository = InferenceRepository(
            self,
            "InferenceImages",
            repository_name=config.ecr_repository_name,
            retained_images=config.image_retention_count,
            key=key,
        )
        self.job_role = ProcessingJobRole(
            self,
            "JobRole",
            data_bucket_names=config.data_bucket_names,
            data_kms_key_arns=config.data_kms_key_arns,
            repository=self.repository.repository,
        )
        self.workflow = LegacyProcessingWorkflow(
            self,
            "Workflow",
            config=config,
            passable_role_arns=[self.job_role.role.role_arn, *config.extra_execution_role_arns],
            inference_repository_uri=self.repository.repository.repository_uri,
            key=key,
        )
        outputs = {
            "StateMachineArn": (self.workflow.state_machine.state_machine_arn, "Start executions here"),
            "InferenceRepositoryUri": (self.repository.repository.repository_uri, "Push the inference image here"),
            "JobRoleArn": (self.job_role.role.role_arn, "Execution input `role`"),
            "FailureTopicArn": (self.workflow.topic.topic_arn, "Failures of executions are published here"),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)
