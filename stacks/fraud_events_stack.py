"""Fraud detection, event architecture: EventBridge bus -> rule -> Express workflow -> enriched bus.

Producers put transaction events (`source` and `detail-type` from configuration, the transaction
as `detail`) on the transaction bus. The workflow scores, records once, notifies block and
investigate, and publishes the transaction with its score and decision to the enriched bus, where
consumers subscribe with their own rules.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from stacks.components.fraud.encryption_key import fraud_key
from stacks.components.fraud.endpoint import endpoint_arn, retry_policy, thresholds
from stacks.components.fraud.event_workflow_definition import event_workflow_definition, transaction_pattern
from stacks.components.fraud.express_workflow import ExpressWorkflow
from stacks.components.fraud.records import dead_letter_queue, decision_table, notification_topic
from stacks.config import FraudDetectionConfig, FraudEventsConfig


def transaction_event_pattern(config: FraudEventsConfig) -> events.EventPattern:
    """Which events of the transaction bus are transactions to score (`transaction_pattern` as CDK's type)."""
    pattern = transaction_pattern(source=config.source, detail_type=config.detail_type)
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"])


class FraudEventsStack(cdk.Stack):
    """Transaction bus -> rule -> Express workflow; enriched transactions on a second bus."""

    def __init__(self, scope: Construct, construct_id: str, *, fraud: FraudDetectionConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = fraud_key(self, "Key", description="Fraud detection (events): table, topic, queue, logs")
        self.table = decision_table(self, "Decisions", key=key)
        self.topic = notification_topic(self, "Notifications", key=key)
        self.dead_letters = dead_letter_queue(
            self,
            "DeadLetters",
            key=key,
            holds="transactions the workflow could not finish (with the reason), events EventBridge could not deliver",
        )
        self.transaction_bus = events.EventBus(self, "TransactionBus", description="Transactions to score")
        self.enriched_bus = events.EventBus(
            self, "EnrichedBus", description="Transactions with their fraud score and decision"
        )
        self.workflow = ExpressWorkflow(
            self,
            "Workflow",
            definition=event_workflow_definition(
                endpoint_name=fraud.endpoint_name,
                table_name=self.table.table_name,
                topic_arn=self.topic.topic_arn,
                enriched_bus_name=self.enriched_bus.event_bus_name,
                dead_letter_queue_url=self.dead_letters.queue_url,
                thresholds=thresholds(fraud),
                retry=retry_policy(fraud),
            ),
            key=key,
            endpoint_arn=endpoint_arn(self, fraud.endpoint_name),
            include_execution_data=True,
        )
        self.table.grant(self.workflow.state_machine, "dynamodb:PutItem", "dynamodb:DeleteItem")
        self.topic.grant_publish(self.workflow.state_machine)
        self.dead_letters.grant_send_messages(self.workflow.state_machine)
        self.enriched_bus.grant_put_events_to(self.workflow.state_machine)
        self.rule = events.Rule(
            self,
            "Transactions",
            event_bus=self.transaction_bus,
            description="Transactions on the transaction bus: score them",
            event_pattern=transaction_event_pattern(fraud.events),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                self.workflow.state_machine,
                dead_letter_queue=self.dead_letters,
                retry_attempts=185,
                max_event_age=cdk.Duration.hours(24),
            )
        )
        cdk.CfnOutput(self, "TransactionBusName", value=self.transaction_bus.event_bus_name)
        cdk.CfnOutput(self, "EnrichedBusName", value=self.enriched_bus.event_bus_name)
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.dead_letters.queue_url)
