"""The three fraud architectures' resources on the emulator, with the stacks' own workflow definitions.

What the stacks deploy on AWS, as far as the emulator goes: the decision tables, notification topics
(each with a queue subscribed, to count what was notified), dead-letter queues, the stream, the two
buses and both Express workflows built by the same `*_definition` functions the constructs ship.
Where the emulator cannot do what AWS does, the substitute is named in `fraud_emulator`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3

import fraud_model  # noqa: F401  (puts lambdas/ on sys.path)
from fraud_scoring.scoring import Thresholds
from local_lifecycle.emulator import DUMMY_CREDENTIALS, Emulator
from stacks.components.fraud.decision_states import RetryPolicy
from stacks.components.fraud.event_workflow_definition import event_workflow_definition, transaction_pattern
from stacks.components.fraud.stream_workflow_definition import stream_workflow_definition

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@dataclass(frozen=True)
class Architecture:
    """One architecture's resources on the emulator."""

    table: str
    topic_arn: str
    notification_queue_url: str
    dead_letter_queue_url: str
    state_machine_arn: str = ""


@dataclass(frozen=True)
class FraudResources:
    """Everything the offline run and the tests use, by architecture."""

    stream_name: str
    stream_arn: str
    stream: Architecture
    events: Architecture
    transaction_bus: str
    enriched_bus: str
    delivery_queue_url: str
    enriched_queue_url: str


_SESSION = boto3.session.Session()


def fresh_client(emulator: Emulator, service: str) -> Any:
    """A client of its own (for code whose calls are counted, like a Lambda's clients)."""
    return _cached_client.__wrapped__(emulator.url, emulator.region, service)


@cache
def _cached_client(url: str, region: str, service: str) -> Any:
    return _SESSION.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def client(emulator: Emulator, service: str) -> Any:
    """A client of the emulator's default account, made once per emulator and service (clients are costly)."""
    return _cached_client(emulator.url, emulator.region, service)


def _queue(emulator: Emulator, name: str) -> tuple[str, str]:
    sqs = client(emulator, "sqs")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _architecture(emulator: Emulator, prefix: str) -> Architecture:
    client(emulator, "dynamodb").create_table(
        TableName=f"{prefix}-decisions",
        KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sns = client(emulator, "sns")
    topic_arn: str = sns.create_topic(Name=f"{prefix}-notifications")["TopicArn"]
    notes_url, notes_arn = _queue(emulator, f"{prefix}-notified")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notes_arn, Attributes={"RawMessageDelivery": "true"})
    dead_letters_url, _ = _queue(emulator, f"{prefix}-dead-letters")
    return Architecture(f"{prefix}-decisions", topic_arn, notes_url, dead_letters_url)


def _state_machine(emulator: Emulator, name: str, definition: dict[str, Any]) -> str:
    role = client(emulator, "iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=ROLE_POLICY)
    arn: str = client(emulator, "stepfunctions").create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=role["Role"]["Arn"], type="EXPRESS"
    )["stateMachineArn"]
    return arn


def create_resources(
    emulator: Emulator,
    *,
    endpoint_name: str,
    thresholds: Thresholds,
    retry: RetryPolicy,
    source: str = "payments",
    detail_type: str = "Transaction",
) -> FraudResources:
    """Create every resource of the three architectures on `emulator` (a fresh one)."""
    kinesis = client(emulator, "kinesis")
    kinesis.create_stream(StreamName="fraud-transactions", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName="fraud-transactions")["StreamDescription"]["StreamARN"]
    stream = _architecture(emulator, "fraud-stream")
    stream_sm = _state_machine(
        emulator,
        "fraud-stream-workflow",
        stream_workflow_definition(
            endpoint_name=endpoint_name,
            table_name=stream.table,
            topic_arn=stream.topic_arn,
            thresholds=thresholds,
            retry=retry,
        ),
    )
    events_arch = _architecture(emulator, "fraud-events")
    bridge = client(emulator, "events")
    bridge.create_event_bus(Name="fraud-transactions")
    bridge.create_event_bus(Name="fraud-enriched")
    events_sm = _state_machine(
        emulator,
        "fraud-events-workflow",
        event_workflow_definition(
            endpoint_name=endpoint_name,
            table_name=events_arch.table,
            topic_arn=events_arch.topic_arn,
            enriched_bus_name="fraud-enriched",
            dead_letter_queue_url=events_arch.dead_letter_queue_url,
            thresholds=thresholds,
            retry=retry,
        ),
    )
    # EventBridge cannot target a state machine here: the rule delivers to a queue, drained by the replay.
    delivery_url, delivery_arn = _queue(emulator, "fraud-events-delivery")
    bridge.put_rule(
        Name="fraud-transactions",
        EventBusName="fraud-transactions",
        EventPattern=json.dumps(transaction_pattern(source=source, detail_type=detail_type)),
    )
    bridge.put_targets(
        Rule="fraud-transactions", EventBusName="fraud-transactions", Targets=[{"Id": "delivery", "Arn": delivery_arn}]
    )
    enriched_url, enriched_arn = _queue(emulator, "fraud-enriched-consumer")
    bridge.put_rule(
        Name="enriched", EventBusName="fraud-enriched", EventPattern=json.dumps({"source": [{"prefix": ""}]})
    )
    bridge.put_targets(
        Rule="enriched", EventBusName="fraud-enriched", Targets=[{"Id": "consumer", "Arn": enriched_arn}]
    )
    return FraudResources(
        stream_name="fraud-transactions",
        stream_arn=stream_arn,
        stream=Architecture(
            stream.table, stream.topic_arn, stream.notification_queue_url, stream.dead_letter_queue_url, stream_sm
        ),
        events=Architecture(
            events_arch.table,
            events_arch.topic_arn,
            events_arch.notification_queue_url,
            events_arch.dead_letter_queue_url,
            events_sm,
        ),
        transaction_bus="fraud-transactions",
        enriched_bus="fraud-enriched",
        delivery_queue_url=delivery_url,
        enriched_queue_url=enriched_url,
    )


def drain(emulator: Emulator, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message of a queue."""
    sqs = client(emulator, "sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def table_items(emulator: Emulator, table: str) -> dict[str, dict[str, Any]]:
    """Every item of a decision table, by transaction ID, as plain values."""
    dynamodb = client(emulator, "dynamodb")
    items: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items[item["transaction_id"]["S"]] = {key: next(iter(value.values())) for key, value in item.items()}
    return items
