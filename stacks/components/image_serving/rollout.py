"""An approval (or rejection) in the served model package group rolls the always-on service.

EventBridge rule (the group's versions turning Approved or Rejected) -> the rollout Lambda, which forces a
new ECS deployment or restarts the Beanstalk app server; new tasks fetch the newest approved version. The
rule retries delivery and keeps what it could not deliver; the Lambda's failed asynchronous invocations
(e.g. the environment was busy) are retried and then kept in the same dead-letter queue.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.lambda_bundling import LAMBDA_RUNTIME, python_lambda_code


def model_package_state_pattern(group: str) -> events.EventPattern:
    """Versions of `group` approved or rejected (both change which version is served)."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=["SageMaker Model Package State Change"],
        detail={"ModelPackageGroupName": [group], "ModelApprovalStatus": ["Approved", "Rejected"]},
    )


class ServingRollout(Construct):
    """The rule, the rollout function and the dead-letter queue of both."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group: str,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letters,
            [{"id": "AwsSolutions-SQS3", "reason": "This queue is itself the dead-letter queue of the rollout."}],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Rolls the always-on image classifier when its model package group's approvals change",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="serving_rollout.handler.lambda_handler",
            code=python_lambda_code(packages=["serving_rollout", "gitlab_trigger"]),
            timeout=cdk.Duration.seconds(30),
            memory_size=256,
            reserved_concurrent_executions=1,
            environment={"POWERTOOLS_SERVICE_NAME": "serving-rollout", "MODEL_PACKAGE_GROUP": group, **environment},
            environment_encryption=key,
            dead_letter_queue=self.dead_letters,
            retry_attempts=2,
            log_group=logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key),
        )
        for statement in statements:
            self.function.add_to_role_policy(statement)
        self.rule = events.Rule(
            self,
            "Approvals",
            description=f"Approvals and rejections in {group} roll the always-on classifier",
            event_pattern=model_package_state_pattern(group),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letters,
                retry_attempts=8,
                max_event_age=cdk.Duration.hours(2),
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AWSLambdaBasicExecutionRole: the AWS-maintained minimum for writing the function logs.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                }
            ],
            apply_to_children=True,
        )
        skip_checks(
            self.function,
            {"CKV_AWS_117": "Calls only the ECS or Elastic Beanstalk API; no VPC resource to reach."},
        )
