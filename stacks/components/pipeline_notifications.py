"""Where the DAGs report: an SNS topic with e-mail subscriptions, and the Slack webhook secret.

The Slack incoming-webhook URL is a credential: it lives only in Secrets Manager (the stack creates
the secret with a placeholder; put the URL with `aws secretsmanager put-secret-value`), never in a
template, a variable or a log. Topic and secret are encrypted with a key of their own.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from cdk_nag import NagSuppressions
from constructs import Construct


class PipelineNotifications(Construct):
    """SNS topic (e-mail) and Slack webhook secret of the Airflow pipelines."""

    def __init__(
        self, scope: Construct, construct_id: str, *, topic_name: str, emails: list[str], slack_secret_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the MLOps pipeline notifications topic and the Slack webhook secret",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.topic = sns.Topic(
            self, "Topic", topic_name=topic_name, display_name="MLOps pipelines", master_key=self.key, enforce_ssl=True
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.slack_secret = secretsmanager.Secret(
            self,
            "SlackWebhook",
            secret_name=slack_secret_name,
            description="Slack incoming-webhook URL of the MLOps pipeline notifications (set it after deploy)",
            encryption_key=self.key,
            # A placeholder: the real URL is put by an operator, never written into a template.
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.slack_secret,
            [
                {
                    "id": "AwsSolutions-SMG4",
                    "reason": (
                        "Slack issues incoming-webhook URLs; rotating one means creating a new webhook in Slack, "
                        "which no rotation Lambda can do. Re-issue it in Slack and put the new URL."
                    ),
                }
            ],
        )

    def grant_notify(self, grantee: iam.IGrantable) -> None:
        """Publish to the topic and read the webhook URL."""
        self.topic.grant_publish(grantee)
        self.slack_secret.grant_read(grantee)
