"""Stream architecture, fault injection: every transaction ends recorded with a decision or dead-lettered.

Real code throughout: the stream Lambda's handler (Powertools batch processing), the stream
workflow's definition executed by the emulator, the real model server scoring. Each test ends
with the count that proves every transaction is accounted for.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from fraud_test_support import THRESHOLDS, FraudWorld, TrainedModel, payloads

from fraud_model.training import predict
from fraud_scoring.schema import parse_transaction
from fraud_stream_ingest.handler import handle
from fraud_stream_ingest.ingest import IngestSettings, StreamIngest
from local_lifecycle.fraud_replay import ReplayResult, replay_stream
from local_lifecycle.fraud_resources import client, drain, table_items

pytestmark = [pytest.mark.xdist_group("fraud"), pytest.mark.e2e]


def _assert_accounted(result: ReplayResult, transactions: int) -> None:
    assert result.lost == []
    assert len(result.decisions) + len([k for k in result.dead_lettered if not k.startswith("record ")]) == transactions


def test_a_batch_of_100_is_scored_recorded_and_notified_with_few_api_calls(
    world: FraudWorld, replay_events: list[dict[str, Any]], trained: TrainedModel
) -> None:
    details = replay_events[:100]
    result = replay_stream(world.emulator, world.resources, payloads(details), batch_size=100)
    _assert_accounted(result, 100)
    assert result.deliveries == 1 and world.bridge.calls == 1
    # StartSyncExecution + InvokeEndpoint + TransactWriteItems + PublishBatch(es): the sample made ~3.1 per transaction.
    assert result.calls_per_transaction <= 0.1
    expected = predict(trained.model_dir, pd.DataFrame(details))
    items = table_items(world.emulator, world.resources.stream.table)
    for detail, score in zip(details, expected, strict=True):
        item = items[detail["transaction_id"]]
        assert float(item["score"]) == pytest.approx(float(score), rel=1e-5)
        assert item["decision"] == THRESHOLDS.decide(float(score))
        assert parse_transaction(json.loads(item["transaction"])) == parse_transaction(detail)
    notified = sum(1 for item in items.values() if item["decision"] != "approve")
    assert notified > 0 and result.notified == notified


def test_a_redelivered_batch_is_neither_recorded_nor_notified_twice(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    records = payloads(replay_events[:30])
    first = replay_stream(world.emulator, world.resources, records, batch_size=100)
    before = table_items(world.emulator, world.resources.stream.table)
    # Same records again (a producer retry, or Lambda redelivering after a timeout), plus in-batch twins.
    client(world.emulator, "kinesis").delete_stream(StreamName=world.resources.stream_name)
    client(world.emulator, "kinesis").create_stream(StreamName=world.resources.stream_name, ShardCount=1)
    second = replay_stream(world.emulator, world.resources, records + records[:5], batch_size=100)
    assert first.notified > 0 and second.notified == 0
    assert table_items(world.emulator, world.resources.stream.table) == before
    assert second.lost == [] and second.duplicates == 5 and len(second.decisions) == 30


def test_scorer_5xx_keeps_the_records_for_the_retry_that_records_them(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    world.bridge.inject("ServiceUnavailable", "ModelError")  # the first attempt and its one retry
    result = replay_stream(world.emulator, world.resources, payloads(replay_events[:20]), batch_size=100)
    assert result.deliveries == 2  # Lambda retried the batch the failed workflow handed back
    _assert_accounted(result, 20)
    assert len(result.decisions) == 20


def test_throttling_and_a_slow_endpoint_are_retried_inside_the_workflow(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    world.bridge.inject("ThrottlingException")
    throttled = replay_stream(world.emulator, world.resources, payloads(replay_events[:10]), batch_size=100)
    assert throttled.deliveries == 1 and world.bridge.calls == 2
    world.bridge.slow_seconds = 4  # past the 3 s task timeout of the test workflow
    world.bridge.inject("slow")
    client(world.emulator, "kinesis").delete_stream(StreamName=world.resources.stream_name)
    client(world.emulator, "kinesis").create_stream(StreamName=world.resources.stream_name, ShardCount=1)
    slow = replay_stream(world.emulator, world.resources, payloads(replay_events[10:20]), batch_size=100)
    assert slow.deliveries == 1 and world.bridge.calls == 4
    for result in (throttled, slow):
        _assert_accounted(result, 10)
        assert len(result.decisions) == 10


def test_poison_records_go_to_the_dead_letter_queue_with_the_reason(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    bad = {**replay_events[0], "transaction_id": "tx-bad", "amount": "12.50"}
    records = [*payloads(replay_events[:9]), b"\x00\x01 not json", json.dumps(bad).encode()]
    result = replay_stream(world.emulator, world.resources, records, batch_size=100)
    assert result.lost == [] and len(result.decisions) == 9
    assert "amount: Input should be a valid number" in result.dead_lettered["tx-bad"]
    assert any("not UTF-8 JSON" in reason for reason in result.dead_lettered.values())
    assert len(result.dead_lettered) == 2


def test_records_failing_for_too_long_are_dead_lettered_with_the_workflows_error(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    world.bridge.inject(*["ServiceUnavailable"] * 2)
    far_future = 10**10  # every record looks older than give_up_after_seconds
    result = replay_stream(
        world.emulator, world.resources, payloads(replay_events[:5]), batch_size=100, clock=lambda: far_future
    )
    assert result.deliveries == 1 and result.decisions == {}
    assert len(result.dead_lettered) == 5 and result.lost == []
    assert all("gave up after retries: workflow FAILED" in reason for reason in result.dead_lettered.values())
    assert table_items(world.emulator, world.resources.stream.table) == {}


def test_refused_notifications_release_their_records_so_the_retry_notifies_them(
    world: FraudWorld, replay_events: list[dict[str, Any]], trained: TrainedModel
) -> None:
    details = replay_events[:40]
    flagged = {
        detail["transaction_id"]
        for detail, score in zip(details, predict(trained.model_dir, pd.DataFrame(details)), strict=True)
        if THRESHOLDS.decide(float(score)) != "approve"
    }
    assert flagged
    sns = client(world.emulator, "sns")
    sns.delete_topic(TopicArn=world.resources.stream.topic_arn)  # SNS refuses every PublishBatch
    kinesis_records = payloads(details)
    stream = world.resources.stream

    class _RecreateTopicOnRetry:
        """The workflow client; before the retry, SNS is back (the topic and its subscription)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.calls = 0

        def start_sync_execution(self, **kwargs: Any) -> dict[str, Any]:
            self.calls += 1
            if self.calls == 2:
                arn = sns.create_topic(Name=stream.topic_arn.rsplit(":", 1)[1])["TopicArn"]
                queue_arn = client(world.emulator, "sqs").get_queue_attributes(
                    QueueUrl=stream.notification_queue_url, AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
                sns.subscribe(
                    TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
                )
            return dict(self.inner.start_sync_execution(**kwargs))

    from local_lifecycle.fraud_emulator import SyncExecutions

    workflow = _RecreateTopicOnRetry(SyncExecutions(client(world.emulator, "stepfunctions")))
    ingest = StreamIngest(
        settings=IngestSettings(stream.state_machine_arn, stream.table, stream.dead_letter_queue_url, 900),
        workflow=workflow,
        sqs=client(world.emulator, "sqs"),
        dynamodb=client(world.emulator, "dynamodb"),
    )
    from local_lifecycle.fraud_replay import _kinesis_event, _read_stream

    client(world.emulator, "kinesis").put_records(
        StreamName=world.resources.stream_name, Records=[{"Data": r, "PartitionKey": "p"} for r in kinesis_records]
    )
    event = _kinesis_event(_read_stream(world.emulator, world.resources.stream_name), world.resources.stream_arn)
    with pytest.raises(BatchProcessingError):  # every record handed back: Lambda retries (bisecting on AWS)
        handle(event, None, ingest)
    recorded = set(table_items(world.emulator, stream.table))
    assert recorded == {d["transaction_id"] for d in details} - flagged  # refused ones were released
    assert handle(event, None, ingest) == {"batchItemFailures": []}
    assert set(table_items(world.emulator, stream.table)) == {d["transaction_id"] for d in details}
    notified = {json.loads(m["Body"])["transaction_id"] for m in drain(world.emulator, stream.notification_queue_url)}
    assert notified == flagged
