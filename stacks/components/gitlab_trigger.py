"""GitLab trigger: starts the model deploy pipeline when a model version is approved."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.gitlab_api_function import gitlab_api_function


def model_approved_pattern(model_package_group_name: str) -> events.EventPattern:
    """Events SageMaker sends when a version of this group is approved."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=["SageMaker Model Package State Change"],
        detail={"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": ["Approved"]},
    )


class GitLabTrigger(Construct):
    """EventBridge rule -> Lambda that starts the deploy repo's GitLab pipeline.

    Two layers keep every approval: EventBridge retries *delivering* the event to Lambda for up
    to a day, and Lambda's asynchronous invocation retries a *failed* run (GitLab down, token
    revoked) twice. Events that still fail, at either layer, land in one encrypted dead-letter
    queue kept for 14 days, from which they can be replayed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rule_name: str,
        model_package_group_name: str,
        gitlab_server_url: str,
        token_secret_name: str,
        deploy_project_id: str,
        deploy_branch: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letter_queue,
            [{"id": "AwsSolutions-SQS3", "reason": "This queue is itself the dead-letter queue of the approval rule."}],
        )
        self.function = gitlab_api_function(
            self,
            package="gitlab_trigger",
            handler="lambda_handler",
            description="Starts the model deploy GitLab pipeline for an approved model version",
            token_secret_name=token_secret_name,
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            retry_attempts=2,
            max_event_age=cdk.Duration.hours(6),
            dead_letter_queue=self.dead_letter_queue,
            environment={
                "POWERTOOLS_SERVICE_NAME": "gitlab-trigger",
                "GITLAB_SERVER_URL": gitlab_server_url,
                "GITLAB_TOKEN_SECRET_NAME": token_secret_name,
                "GITLAB_DEPLOY_PROJECT_ID": deploy_project_id,
                "DEPLOY_BRANCH": deploy_branch,
                "MODEL_PACKAGE_GROUP_NAME": model_package_group_name,
            },
        )
        self.rule = events.Rule(
            self,
            "ModelApproved",
            rule_name=rule_name,
            description="Model version approved in the project's model package group: start the GitLab deploy pipeline",
            event_pattern=model_approved_pattern(model_package_group_name),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=8,
                max_event_age=cdk.Duration.hours(24),
            )
        )
