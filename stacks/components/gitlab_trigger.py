"""GitLab trigger: starts the model deploy pipeline when a model version is approved."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.gitlab_api_function import gitlab_api_function
from stacks.config import GitLabConnection

# Rejections reach the trigger too: a rejection clears the version's approval record, so
# approving it again deploys again (see lambdas/gitlab_trigger/trigger.py).
HANDLED_STATUSES = ["Approved", "Rejected"]


def model_approved_pattern(
    model_package_group_name: str, statuses: Sequence[str] = ("Approved",)
) -> events.EventPattern:
    """Events SageMaker sends when a version of this group gets one of `statuses` (default: approved)."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=["SageMaker Model Package State Change"],
        detail={"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": list(statuses)},
    )


class GitLabTrigger(Construct):
    """EventBridge rule -> Lambda that starts the deploy repo's GitLab pipeline, at most once per approval.

    Two layers keep every approval: EventBridge retries *delivering* the event to Lambda for up
    to a day, and Lambda's asynchronous invocation retries a *failed* run (GitLab down, token
    revoked) twice. Events that still fail, at either layer, land in one encrypted dead-letter
    queue kept for 14 days, from which they can be replayed; poison events (malformed, another
    group's) go there at once, with the reason. A DynamoDB table (on demand, encrypted, records
    expiring by TTL) makes starting the pipeline idempotent per (model version, approval status).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rule_name: str,
        model_package_group_name: str,
        connections: Sequence[GitLabConnection],
        gitlab_server_url: str,
        token_secret_arn: str,
        deploy_project_id: str,
        deploy_branch: str,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letter_queue,
            [{"id": "AwsSolutions-SQS3", "reason": "This queue is itself the dead-letter queue of the approval rule."}],
        )
        self.idempotency_table = dynamodb.Table(
            self,
            "Approvals",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute="expiration",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Records of approvals only: deleting the project deletes them.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.function = gitlab_api_function(
            self,
            package="gitlab_trigger",
            handler="lambda_handler",
            description="Starts the model deploy GitLab pipeline for an approved model version",
            connections=connections,
            key=key,
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            retry_attempts=2,
            max_event_age=cdk.Duration.hours(6),
            dead_letter_queue=self.dead_letter_queue,
            environment={
                "POWERTOOLS_SERVICE_NAME": "gitlab-trigger",
                "GITLAB_SERVER_URL": gitlab_server_url,
                "GITLAB_TOKEN_SECRET_ARN": token_secret_arn,
                "GITLAB_DEPLOY_PROJECT_ID": deploy_project_id,
                "DEPLOY_BRANCH": deploy_branch,
                "MODEL_PACKAGE_GROUP_NAME": model_package_group_name,
                "IDEMPOTENCY_TABLE_NAME": self.idempotency_table.table_name,
                "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
            },
        )
        self.idempotency_table.grant(
            self.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        self.dead_letter_queue.grant_send_messages(self.function)
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "CDK's grants on the project's own operations key (dead-letter queue and approval table "
                        "encryption) use the GenerateDataKey*/ReEncrypt* action families on that one key."
                    ),
                    "applies_to": ["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
                }
            ],
            apply_to_children=True,
        )
        self.rule = events.Rule(
            self,
            "ModelApproved",
            rule_name=rule_name,
            description="Model version approved or rejected in the project's model package group: "
            "start (or re-arm) the GitLab deploy pipeline",
            event_pattern=model_approved_pattern(model_package_group_name, HANDLED_STATUSES),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=8,
                max_event_age=cdk.Duration.hours(24),
            )
        )
        # EventBridge writes failed deliveries into the queue, encrypted with the project key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" is this key
                # The rule's ARN from its name: a reference to the rule would make the key depend on it.
                conditions={
                    "ArnEquals": {
                        "aws:SourceArn": cdk.Stack.of(self).format_arn(
                            service="events", resource="rule", resource_name=rule_name
                        )
                    }
                },
            )
        )
