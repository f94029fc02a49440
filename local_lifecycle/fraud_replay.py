"""Replays transactions through the three fraud architectures and accounts for every one of them.

Each replay drives the architecture's real code (the Lambdas' handlers, the workflows' definitions on
the emulator, the real model server as the endpoint) and then counts, from what the architecture
left behind (decision table, dead-letter queue, transformation results), where each transaction
ended: recorded with a decision, a duplicate of one recorded, or kept with its reason. `lost` lists
the ones found nowhere. API calls are those the architecture makes (Lambda clients, workflow
tasks, the one endpoint call of a Firehose batch), not the producer's or the replay's own.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent

from fraud_firehose_enrich.enrich import EnrichSettings
from fraud_firehose_enrich.handler import handle as handle_firehose
from fraud_scoring.schema import claimed_transaction_id
from fraud_scoring.scoring import EndpointScorer
from fraud_stream_ingest.handler import handle as handle_stream
from fraud_stream_ingest.ingest import IngestSettings, StreamIngest
from local_lifecycle.emulator import Emulator
from local_lifecycle.fraud_emulator import ApiCallCounter, SyncExecutions, task_calls
from local_lifecycle.fraud_resources import FraudResources, client, drain, fresh_client, table_items


@dataclass
class ReplayResult:
    """Where every replayed transaction ended, and what it cost."""

    architecture: str
    records: int
    decisions: dict[str, str] = field(default_factory=dict)  # transaction ID -> decision
    duplicates: int = 0
    dead_lettered: dict[str, str] = field(default_factory=dict)  # transaction ID or record key -> reason
    deliveries: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    notified: int = 0
    lost: list[str] = field(default_factory=list)

    @property
    def calls_per_transaction(self) -> float:
        """AWS API calls per replayed record."""
        return self.api_calls / max(self.records, 1)

    @property
    def per_second(self) -> float:
        """Records processed per second of wall time."""
        return self.records / max(self.seconds, 1e-9)


def _kinesis_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode(),
                    "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": stream_arn.split(":")[3],
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }


def _read_stream(emulator: Emulator, stream_name: str) -> list[dict[str, Any]]:
    kinesis = client(emulator, "kinesis")
    shard = kinesis.list_shards(StreamName=stream_name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records: list[dict[str, Any]] = []
    position = iterator["ShardIterator"]
    while True:
        answer = kinesis.get_records(ShardIterator=position, Limit=10_000)
        records += answer["Records"]
        if not answer["Records"]:
            return records
        position = answer["NextShardIterator"]


def replay_stream(
    emulator: Emulator,
    resources: FraudResources,
    payloads: list[bytes],
    *,
    batch_size: int,
    give_up_after_seconds: int = 900,
    clock: Callable[[], float] = time.time,
    max_deliveries: int = 10_000,
) -> ReplayResult:
    """Put `payloads` on the stream, then deliver them to the stream Lambda as Lambda's poller would.

    Like the Kinesis event source mapping: batches of `batch_size` in order; a partial failure resumes
    from the first failed record, a whole-batch failure redelivers the batch.
    """
    kinesis = client(emulator, "kinesis")
    for start in range(0, len(payloads), 500):
        kinesis.put_records(
            StreamName=resources.stream_name,
            Records=[{"Data": data, "PartitionKey": str(uuid.uuid4())} for data in payloads[start : start + 500]],
        )
    records = _read_stream(emulator, resources.stream_name)
    counter = ApiCallCounter()
    executions = SyncExecutions(client(emulator, "stepfunctions"))
    ingest = StreamIngest(
        settings=IngestSettings(
            state_machine_arn=resources.stream.state_machine_arn,
            table_name=resources.stream.table,
            dead_letter_queue_url=resources.stream.dead_letter_queue_url,
            give_up_after_seconds=give_up_after_seconds,
        ),
        workflow=executions,
        sqs=counter.watch(fresh_client(emulator, "sqs")),
        dynamodb=counter.watch(fresh_client(emulator, "dynamodb")),
        clock=clock,
    )
    result = ReplayResult("stream", len(records))
    started = time.perf_counter()
    position = 0
    while position < len(records) and result.deliveries < max_deliveries:
        batch = records[position : position + batch_size]
        result.deliveries += 1
        try:
            failures = handle_stream(_kinesis_event(batch, resources.stream_arn), None, ingest)["batchItemFailures"]
        except BatchProcessingError:
            continue  # every record failed: Lambda retries the batch (bisecting it on AWS)
        if not failures:
            position += len(batch)
            continue
        failed = {failure["itemIdentifier"] for failure in failures}
        position += next(i for i, record in enumerate(batch) if record["SequenceNumber"] in failed)
    result.seconds = time.perf_counter() - started
    result.api_calls = counter.total + len(executions.executions)
    result.api_calls += sum(task_calls(client(emulator, "stepfunctions"), arn) for arn in executions.executions)
    _account(
        emulator, result, resources.stream.table, resources.stream.dead_letter_queue_url, [r["Data"] for r in records]
    )
    result.notified = len(drain(emulator, resources.stream.notification_queue_url))
    return result


def _account(
    emulator: Emulator, result: ReplayResult, table: str, dead_letter_queue_url: str, records: list[bytes]
) -> None:
    """Find every record in the decision table or the dead-letter queue; name the others in `lost`."""
    items = table_items(emulator, table)
    ids = [claimed_transaction_id(record) for record in records]
    unkeyed_letters = 0
    for message in drain(emulator, dead_letter_queue_url):
        body = json.loads(message["Body"])
        key = body.get("transaction_id") or (body.get("event", {}).get("detail") or {}).get("transaction_id")
        reason = body["reason"] if isinstance(body["reason"], str) else json.dumps(body["reason"])
        if isinstance(key, str) and key in ids:
            result.dead_lettered[key] = reason
        else:
            unkeyed_letters += 1
            result.dead_lettered[f"record without transaction ID #{unkeyed_letters}"] = reason
    seen: Counter[str] = Counter()
    for transaction_id in ids:
        if transaction_id is None:
            continue
        if transaction_id in items:
            seen[transaction_id] += 1
            result.decisions[transaction_id] = items[transaction_id]["decision"]
        elif transaction_id not in result.dead_lettered:
            result.lost.append(transaction_id)
    result.duplicates = sum(count - 1 for count in seen.values())
    unreadable = ids.count(None)
    if unkeyed_letters < unreadable:
        result.lost.append(f"{unreadable - unkeyed_letters} unreadable record(s) missing from the dead-letter queue")


def replay_events(
    emulator: Emulator,
    resources: FraudResources,
    details: list[dict[str, Any]],
    *,
    source: str = "payments",
    detail_type: str = "Transaction",
    concurrency: int = 8,
) -> ReplayResult:
    """Put transaction events on the bus; start one workflow per delivered event, as EventBridge would."""
    events = client(emulator, "events")
    for start in range(0, len(details), 10):
        answer = events.put_events(
            Entries=[
                {
                    "EventBusName": resources.transaction_bus,
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
                for detail in details[start : start + 10]
            ]
        )
        if answer["FailedEntryCount"]:
            raise RuntimeError(f"the emulator refused events: {answer['Entries']}")
    delivered = [message["Body"] for message in drain(emulator, resources.delivery_queue_url)]
    sfn = client(emulator, "stepfunctions")
    result = ReplayResult("events", len(delivered))
    started = time.perf_counter()
    running: list[str] = []
    finished: list[str] = []
    pending = list(delivered)
    while pending or running:
        while pending and len(running) < concurrency:
            running.append(
                sfn.start_execution(
                    stateMachineArn=resources.events.state_machine_arn, input=pending.pop(0), name=str(uuid.uuid4())
                )["executionArn"]
            )
        still: list[str] = []
        for arn in running:
            (finished if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" else still).append(arn)
        running = still
        if running:
            time.sleep(0.01)
    result.seconds = time.perf_counter() - started
    result.deliveries = len(finished)
    result.api_calls = sum(task_calls(sfn, arn) for arn in finished)
    records = [json.dumps(json.loads(body)["detail"]).encode() for body in delivered]
    _account(emulator, result, resources.events.table, resources.events.dead_letter_queue_url, records)
    result.notified = len(drain(emulator, resources.events.notification_queue_url))
    return result


def replay_firehose(
    payloads: list[bytes],
    *,
    scorer: EndpointScorer,
    settings: EnrichSettings,
    counter: ApiCallCounter,
    batch_size: int = 500,
) -> tuple[ReplayResult, list[dict[str, Any]]]:
    """Hand `payloads` to the transformation Lambda in Firehose batches; its result and every output record.

    `counter` watches the scorer's SageMaker runtime client (the Lambda's only AWS calls).
    """
    result = ReplayResult("firehose", len(payloads))
    outputs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for start in range(0, len(payloads), batch_size):
        batch = payloads[start : start + batch_size]
        records = [
            {
                "recordId": f"{start + index:08d}",
                "approximateArrivalTimestamp": int(time.time() * 1000),
                "data": base64.b64encode(data).decode(),
            }
            for index, data in enumerate(batch)
        ]
        event = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/fraud-transactions",
            "region": "eu-west-1",
            "records": records,
        }
        answer = handle_firehose(KinesisFirehoseEvent(event), scorer, settings)
        result.deliveries += 1
        returned = {record["recordId"]: record for record in answer["records"]}
        for record in records:
            output = returned.get(str(record["recordId"]))
            if output is None:
                result.lost.append(str(record["recordId"]))
                continue
            outputs.append(output)
            if output["result"] == "Ok":
                document = json.loads(base64.b64decode(output["data"]))
                if document["transaction_id"] in result.decisions:
                    result.duplicates += 1  # delivered twice: S3 gets it twice, consumers key on the ID
                result.decisions[document["transaction_id"]] = document["fraud"]["decision"]
            else:
                result.dead_lettered[str(record["recordId"])] = (
                    "ProcessingFailed: written under errors/processing-failed/"
                )
    result.seconds = time.perf_counter() - started
    result.api_calls = counter.total
    return result, outputs
