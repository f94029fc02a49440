"""The legacy processing state machine, its least-privilege role, failure topic and logs."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.legacy_processing.definition import STAGES, build_definition, workflow_settings
from stacks.config import LegacyProcessingConfig

# SDK actions the definition calls, on processing jobs named <prefix>-<stage>-<hash> only.
SAGEMAKER_ACTIONS = [
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:AddTags",
    "sagemaker:ListTags",
]


class LegacyProcessingWorkflow(Construct):
    """Step Functions state machine running Preprocessing -> Inference -> Postprocessing jobs.

    The role may act only on processing jobs with the configured name prefix and may pass only
    the given SageMaker execution roles (literal ARNs), and only to SageMaker: an execution input
    naming any other role fails validation before any call, and IAM would refuse it anyway.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LegacyProcessingConfig,
        passable_role_arns: Sequence[str],
        inference_repository_uri: str,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.topic = sns.Topic(
            self, "Failures", display_name="Legacy processing failures", master_key=key, enforce_ssl=True
        )
        for address in config.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{config.job_name_prefix}-legacy-processing",
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # Any retention CloudWatch accepts (config.py validates the number; the L2 takes only its enum).
        cfn_log_group = self.log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = config.log_retention_days
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "states.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Runs the legacy processing workflow's SageMaker Processing jobs",
        )
        job_arns = (
            f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:processing-job/{config.job_name_prefix}-*"
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=SAGEMAKER_ACTIONS, resources=[job_arns]))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=list(passable_role_arns),
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        self.topic.grant_publish(self.role)
        settings = workflow_settings(
            config,
            partition=stack.partition,
            region=stack.region,
            account=stack.account,
            topic_arn=self.topic.topic_arn,
            passable_role_arns=tuple(passable_role_arns),
            inference_repository_uri=inference_repository_uri,
        )
        self.definition = build_definition(settings)
        longest_job = config.max_runtime_limit_seconds + config.startup_allowance_seconds
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(self.definition)),
            role=self.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            # Backstop only: each job has its own timeout; this bounds a whole execution.
            timeout=cdk.Duration.seconds(len(STAGES) * (longest_job + 2 * config.poll_interval_seconds)),
            comment="Legacy ML code on SageMaker: preprocessing, inference and postprocessing Processing jobs",
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Processing jobs are named <prefix>-<stage>-<execution hash> by the definition, so the "
                    "grant names the configured prefix; CloudWatch Logs delivery and X-Ray actions take no resource; "
                    "kms:GenerateDataKey* on the topic's key is what publishing to the encrypted topic needs.",
                    "appliesTo": [
                        f"Resource::{job_arns}",
                        "Resource::*",
                        "Action::kms:GenerateDataKey*",
                    ],
                }
            ],
            apply_to_children=True,
        )
