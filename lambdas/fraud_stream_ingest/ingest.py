"""What the stream Lambda does with one Kinesis batch (plain functions; `handler` is the entry point).

1. Decode every record as a transaction (`fraud_scoring.schema`). A record that is not one (a
   poison record) goes to the dead-letter queue with the reason at once: retrying it would only
   block the shard.
2. A transaction delivered twice in the same batch is scored once, and one already recorded (a
   redelivery) is skipped: one `BatchGetItem` per 100 finds those. The workflow's conditional write
   still refuses any that slips through (two deliveries racing), so this only saves work.
3. The valid transactions go to the Express workflow in one synchronous execution per 100 (one
   endpoint call, one conditional batch write, SNS batches of 10).
4. When the workflow fails (scorer down, throttled, timing out...), its records are reported as
   failed so that Lambda retries them from the stream (the shard waits: order is kept). A record
   that has been failing for longer than `GIVE_UP_AFTER_SECONDS` goes to the dead-letter queue
   with the workflow's error instead, so the shard moves on and nothing is lost.

Every record thus ends recorded with a decision (by the workflow), or in the dead-letter queue with
its reason, or is handed back to Lambda for a retry (and Lambda's own on-failure destination
keeps a pointer to any batch Lambda itself gives up on).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from fraud_scoring.schema import InvalidTransaction, claimed_transaction_id, features_csv, parse_record

logger = Logger(service="fraud-stream-ingest")

WORKFLOW_BATCH = 100  # DynamoDB TransactWriteItems takes at most 100 items
SQS_BATCH = 10


@dataclass(frozen=True)
class IngestSettings:
    """Where batches go: the workflow, the decision table, the dead-letter queue, when to stop retrying."""

    state_machine_arn: str
    table_name: str
    dead_letter_queue_url: str
    give_up_after_seconds: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> IngestSettings:
        """Read `STATE_MACHINE_ARN`, `TABLE_NAME`, `DEAD_LETTER_QUEUE_URL`, `GIVE_UP_AFTER_SECONDS`."""
        env = os.environ if environ is None else environ
        return cls(
            state_machine_arn=env["STATE_MACHINE_ARN"],
            table_name=env["TABLE_NAME"],
            dead_letter_queue_url=env["DEAD_LETTER_QUEUE_URL"],
            give_up_after_seconds=int(env["GIVE_UP_AFTER_SECONDS"]),
        )


@dataclass
class _Pending:
    record: dict[str, Any]
    reason: str
    transaction_id: str | None = None


@dataclass
class BatchOutcome:
    """What became of a batch: decisions recorded, dead-lettered and retried records, by sequence number."""

    decisions: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    dead_lettered: dict[str, str] = field(default_factory=dict)
    retry: dict[str, str] = field(default_factory=dict)


def _sequence(record: dict[str, Any]) -> str:
    return str(record["kinesis"]["sequenceNumber"])


def _raw(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["kinesis"]["data"])


class StreamIngest:
    """Processes Kinesis batches with the given clients (boto3's, or the emulator's in local runs)."""

    def __init__(
        self,
        *,
        settings: IngestSettings,
        workflow: Any,
        sqs: Any,
        dynamodb: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._workflow = workflow
        self._sqs = sqs
        self._dynamodb = dynamodb
        self._clock = clock

    def process(self, records: list[dict[str, Any]]) -> BatchOutcome:
        """Run one batch; the outcome names every record's fate."""
        outcome = BatchOutcome()
        to_dead_letter: list[_Pending] = []
        chosen: dict[str, tuple[dict[str, Any], Any]] = {}
        for record in records:
            try:
                transaction = parse_record(_raw(record))
            except (InvalidTransaction, ValueError) as error:
                reason = f"poison record: {error}"
                to_dead_letter.append(_Pending(record, reason, claimed_transaction_id(_raw(record))))
                continue
            if transaction.transaction_id in chosen:
                outcome.duplicates.append(_sequence(record))
                continue
            chosen[transaction.transaction_id] = (record, transaction)
        recorded = self._already_recorded(list(chosen))
        items = []
        for transaction_id, (record, transaction) in chosen.items():
            if transaction_id in recorded:
                outcome.duplicates.append(_sequence(record))
            else:
                items.append((record, transaction))
        for start in range(0, len(items), WORKFLOW_BATCH):
            to_dead_letter += self._run_workflow(items[start : start + WORKFLOW_BATCH], outcome)
        self._dead_letter(to_dead_letter, outcome)
        return outcome

    def _already_recorded(self, transaction_ids: list[str]) -> set[str]:
        """The IDs already in the decision table (keys DynamoDB could not read now count as not recorded)."""
        found: set[str] = set()
        table = self._settings.table_name
        for start in range(0, len(transaction_ids), WORKFLOW_BATCH):
            keys = [{"transaction_id": {"S": tid}} for tid in transaction_ids[start : start + WORKFLOW_BATCH]]
            request: dict[str, Any] = {
                table: {"Keys": keys, "ProjectionExpression": "transaction_id", "ConsistentRead": True}
            }
            for _ in range(3):  # unprocessed keys (throttling) are asked again, twice
                try:
                    answer = self._dynamodb.batch_get_item(RequestItems=request)
                except Exception as error:  # noqa: BLE001 - the workflow's conditional write still catches duplicates
                    logger.warning("could not look up recorded transactions", extra={"error": str(error)})
                    break
                found.update(item["transaction_id"]["S"] for item in answer["Responses"].get(table, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def _run_workflow(self, items: list[tuple[dict[str, Any], Any]], outcome: BatchOutcome) -> list[_Pending]:
        transactions = [transaction for _, transaction in items]
        payload = {
            "transactions": [transaction.model_dump(mode="json") for transaction in transactions],
            "features_csv": features_csv(transactions),
        }
        try:
            execution = self._workflow.start_sync_execution(
                stateMachineArn=self._settings.state_machine_arn, input=json.dumps(payload)
            )
        except Exception as error:  # noqa: BLE001 - any failure to run the workflow keeps the records
            execution = {"status": "FAILED", "error": type(error).__name__, "cause": str(error)}
        if execution["status"] == "SUCCEEDED":
            by_id = {result["transaction_id"]: result for result in json.loads(execution["output"])["results"]}
            for record, transaction in items:
                result = by_id[transaction.transaction_id]
                if result["status"] == "duplicate":
                    outcome.duplicates.append(_sequence(record))
                else:
                    outcome.decisions[_sequence(record)] = result["decision"]
            return []
        reason = f"workflow {execution['status']}: {execution.get('error', '')}: {execution.get('cause', '')}"
        logger.warning("workflow failed", extra={"reason": reason, "transactions": len(items)})
        given_up = []
        for record, transaction in items:
            arrived = float(record["kinesis"].get("approximateArrivalTimestamp", self._clock()))
            if self._clock() - arrived > self._settings.give_up_after_seconds:
                given_up.append(_Pending(record, f"gave up after retries: {reason}", transaction.transaction_id))
            else:
                outcome.retry[_sequence(record)] = reason
        return given_up

    def _dead_letter(self, pending: list[_Pending], outcome: BatchOutcome) -> None:
        for start in range(0, len(pending), SQS_BATCH):
            chunk = pending[start : start + SQS_BATCH]
            entries = [self._entry(index, item) for index, item in enumerate(chunk)]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._settings.dead_letter_queue_url, Entries=entries)
                failed = {int(entry["Id"]): entry.get("Message", "refused") for entry in answer.get("Failed", [])}
            except Exception as error:  # noqa: BLE001 - the records are retried instead
                failed = {index: str(error) for index in range(len(chunk))}
            for index, item in enumerate(chunk):
                sequence = _sequence(item.record)
                if index in failed:
                    outcome.retry[sequence] = f"dead-letter queue refused the record: {failed[index]}"
                else:
                    outcome.dead_lettered[sequence] = item.reason
                    logger.warning("dead-lettered", extra={"sequence_number": sequence, "reason": item.reason})

    @staticmethod
    def _entry(index: int, item: _Pending) -> dict[str, Any]:
        raw = _raw(item.record)
        try:
            data: Any = raw.decode("utf-8")
        except UnicodeDecodeError:
            data = {"base64": base64.b64encode(raw).decode()}
        body = {
            "reason": item.reason,
            "transaction_id": item.transaction_id,
            "source": {
                "eventSourceARN": item.record.get("eventSourceARN"),
                "sequenceNumber": _sequence(item.record),
                "partitionKey": item.record["kinesis"].get("partitionKey"),
            },
            "record": data,
        }
        return {
            "Id": str(index),
            "MessageBody": json.dumps(body),
            "MessageAttributes": {"reason": {"DataType": "String", "StringValue": item.reason[:256]}},
        }
