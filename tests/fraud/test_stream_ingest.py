"""The stream Lambda's partial batch response (Powertools): exactly the records to retry are reported."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from fraud_scoring.schema import FEATURE_NAMES
from fraud_stream_ingest.handler import handle
from fraud_stream_ingest.ingest import IngestSettings, StreamIngest

pytestmark = pytest.mark.xdist_group("fraud")
SETTINGS = IngestSettings(
    state_machine_arn="arn:sm", table_name="decisions", dead_letter_queue_url="https://dlq", give_up_after_seconds=900
)


def _record(sequence: int, payload: bytes) -> dict[str, Any]:
    return {
        "kinesis": {
            "sequenceNumber": str(sequence),
            "partitionKey": "p",
            "data": base64.b64encode(payload).decode(),
            "approximateArrivalTimestamp": 1000.0,
        },
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:eu-west-1:111111111111:stream/s",
    }


def _transaction(index: int) -> bytes:
    return json.dumps(
        {
            "transaction_id": f"tx-{index}",
            "card_id": "card-1",
            "timestamp": "2026-01-01T00:00:00+00:00",
            **{name: 0.5 for name in FEATURE_NAMES},
        }
    ).encode()


class _Workflow:
    """Answers like StartSyncExecution: every transaction recorded."""

    def __init__(self) -> None:
        self.inputs: list[dict[str, Any]] = []

    def start_sync_execution(self, *, stateMachineArn: str, input: str) -> dict[str, Any]:  # noqa: N803
        document = json.loads(input)
        self.inputs.append(document)
        results = [
            {"transaction_id": t["transaction_id"], "decision": "approve", "score": 0.01, "status": "recorded"}
            for t in document["transactions"]
        ]
        return {"status": "SUCCEEDED", "output": json.dumps({"results": results})}


class _Table:
    """A DynamoDB client in whose table `tx-3` is already recorded."""

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        keys = RequestItems["decisions"]["Keys"]
        return {"Responses": {"decisions": [k for k in keys if k["transaction_id"]["S"] == "tx-3"]}}


class _Queue:
    """An SQS client whose SendMessageBatch refuses every entry."""

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        return {"Successful": [], "Failed": [{"Id": e["Id"], "Message": "queue unavailable"} for e in Entries]}


def test_only_the_record_that_could_not_be_kept_is_handed_back() -> None:
    workflow = _Workflow()
    ingest = StreamIngest(settings=SETTINGS, workflow=workflow, sqs=_Queue(), dynamodb=_Table(), clock=lambda: 1000.0)
    records = [_record(1, _transaction(1)), _record(2, b"poison"), _record(3, _transaction(3))]
    records.append(_record(4, _transaction(4)))
    assert handle({"Records": records}, None, ingest) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    (sent,) = workflow.inputs  # tx-3 is recorded already: a redelivery, skipped
    assert [t["transaction_id"] for t in sent["transactions"]] == ["tx-1", "tx-4"]
    assert sent["features_csv"] == ("0.5," * (len(FEATURE_NAMES) - 1) + "0.5\n") * 2


def test_more_than_100_transactions_make_one_workflow_run_per_100() -> None:
    workflow = _Workflow()
    ingest = StreamIngest(settings=SETTINGS, workflow=workflow, sqs=_Queue(), dynamodb=_Table(), clock=lambda: 1000.0)
    event = {"Records": [_record(i, _transaction(i)) for i in range(4, 234)]}
    assert handle(event, None, ingest) == {"batchItemFailures": []}
    assert [len(document["transactions"]) for document in workflow.inputs] == [100, 100, 30]
