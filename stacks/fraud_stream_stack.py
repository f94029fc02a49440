"""Fraud detection, stream architecture: Kinesis Data Stream -> Lambda -> Express workflow.

Producers put transactions (JSON) on the stream. The Lambda reads batches (Powertools batch
processing, partial batch failures, bisect on error, on-failure destination), dead-letters poison
records with their reason and runs the workflow once per batch: one endpoint call, one conditional
batch write to DynamoDB, SNS batches for block and investigate.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.fraud.encryption_key import fraud_key
from stacks.components.fraud.endpoint import endpoint_arn, retry_policy, thresholds
from stacks.components.fraud.express_workflow import ExpressWorkflow
from stacks.components.fraud.fraud_function import fraud_function
from stacks.components.fraud.records import dead_letter_queue, decision_table, notification_topic
from stacks.components.fraud.stream_workflow_definition import stream_workflow_definition
from stacks.config import FraudDetectionConfig

# The Lambda waits for the workflow, whose endpoint call may be retried a few times.
LAMBDA_TIMEOUT = cdk.Duration.seconds(120)


class FraudStreamStack(cdk.Stack):
    """Kinesis -> Lambda -> Step Functions Express; decisions in DynamoDB, block/investigate on SNS."""

    def __init__(self, scope: Construct, construct_id: str, *, fraud: FraudDetectionConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = fraud_key(self, "Key", description="Fraud detection (stream): stream, table, topic, queues, logs")
        self.table = decision_table(self, "Decisions", key=key)
        self.topic = notification_topic(self, "Notifications", key=key)
        self.dead_letters = dead_letter_queue(
            self, "DeadLetters", key=key, holds="poison records and records the workflow kept failing, with reasons"
        )
        self.failed_batches = dead_letter_queue(
            self, "FailedBatches", key=key, holds="Lambda's on-failure records: pointers to batches it gave up on"
        )
        self.stream = kinesis.Stream(
            self,
            "Transactions",
            shard_count=fraud.stream.shard_count,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            retention_period=cdk.Duration.hours(24),
        )
        NagSuppressions.add_resource_suppressions(
            self.stream,
            [
                {
                    "id": "AwsSolutions-KDS3",
                    "reason": (
                        "Encrypted with the stack's customer managed key (rotated, key policy in this stack) rather "
                        "than aws/kinesis, like the table, topic and queues it feeds."
                    ),
                }
            ],
        )
        self.workflow = ExpressWorkflow(
            self,
            "Workflow",
            definition=stream_workflow_definition(
                endpoint_name=fraud.endpoint_name,
                table_name=self.table.table_name,
                topic_arn=self.topic.topic_arn,
                thresholds=thresholds(fraud),
                retry=retry_policy(fraud),
            ),
            key=key,
            endpoint_arn=endpoint_arn(self, fraud.endpoint_name),
            include_execution_data=False,
        )
        self.table.grant(self.workflow.state_machine, "dynamodb:PutItem", "dynamodb:DeleteItem")
        self.topic.grant_publish(self.workflow.state_machine)
        self.function = fraud_function(
            self,
            "Ingest",
            package="fraud_stream_ingest",
            description="Fraud detection: hands each Kinesis batch of transactions to the scoring workflow",
            key=key,
            environment={
                "STATE_MACHINE_ARN": self.workflow.state_machine.state_machine_arn,
                "TABLE_NAME": self.table.table_name,
                "DEAD_LETTER_QUEUE_URL": self.dead_letters.queue_url,
                "GIVE_UP_AFTER_SECONDS": str(fraud.stream.give_up_after_seconds),
            },
            reserved_concurrency=fraud.stream.shard_count,
            failure_handling="Kinesis batches report partial failures; Lambda's on-failure destination is a queue.",
            timeout=LAMBDA_TIMEOUT,
            memory_size=512,
        )
        self.workflow.state_machine.grant_start_sync_execution(self.function)
        self.dead_letters.grant_send_messages(self.function)
        self.table.grant(self.function, "dynamodb:BatchGetItem")
        self.function.add_event_source(
            sources.KinesisEventSource(
                self.stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=fraud.stream.batch_size,
                max_batching_window=cdk.Duration.seconds(fraud.stream.max_batching_window_seconds),
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=fraud.stream.retry_attempts,
                max_record_age=cdk.Duration.seconds(fraud.stream.max_record_age_seconds),
                on_failure=sources.SqsDlq(self.failed_batches),
                parallelization_factor=1,
            )
        )
        cdk.CfnOutput(self, "StreamName", value=self.stream.stream_name)
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.dead_letters.queue_url)
