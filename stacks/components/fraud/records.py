"""Where the fraud stacks keep things: the decision table, the notification topic, dead-letter queues."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct


def decision_table(scope: Construct, construct_id: str, *, key: kms.IKey) -> dynamodb.Table:
    """Transactions with their score and decision, one item per `transaction_id` (the idempotency key)."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="transaction_id", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def notification_topic(scope: Construct, construct_id: str, *, key: kms.IKey) -> sns.Topic:
    """Block and investigate decisions; subscribe the review team (attribute `decision` for filters)."""
    return sns.Topic(
        scope,
        construct_id,
        display_name="Fraud detection: block and investigate decisions",
        master_key=key,
        enforce_ssl=True,
    )


def dead_letter_queue(scope: Construct, construct_id: str, *, key: kms.IKey, holds: str) -> sqs.Queue:
    """An encrypted queue keeping failed transactions for 14 days; `holds` says what ends up there."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )
    NagSuppressions.add_resource_suppressions(
        queue, [{"id": "AwsSolutions-SQS3", "reason": f"This queue is itself a dead-letter queue: {holds}."}]
    )
    return queue
