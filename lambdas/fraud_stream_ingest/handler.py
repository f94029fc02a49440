"""Lambda entry point of the stream architecture: `fraud_stream_ingest.handler.lambda_handler`.

Kinesis event source mapping with `ReportBatchItemFailures`: the records `ingest.StreamIngest` hands
back are reported through Powertools' batch processor, so Lambda retries from the first of them
(when every record failed, the processor raises and Lambda bisects the batch).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from .ingest import IngestSettings, StreamIngest, logger

processor = BatchProcessor(event_type=EventType.KinesisDataStreams)


class RecordRetried(Exception):
    """A record handed back to Lambda for a retry; the message says why."""


@cache
def _ingest() -> StreamIngest:
    return StreamIngest(
        settings=IngestSettings.from_env(),
        workflow=boto3.client("stepfunctions"),
        sqs=boto3.client("sqs"),
        dynamodb=boto3.client("dynamodb"),
    )


def handle(event: dict[str, Any], context: LambdaContext | None, ingest: StreamIngest) -> dict[str, Any]:
    """Process one Kinesis event with `ingest`; the partial batch response."""
    outcome = ingest.process(event["Records"])
    logger.info(
        "batch processed",
        extra={
            "records": len(event["Records"]),
            "decided": len(outcome.decisions),
            "duplicates": len(outcome.duplicates),
            "dead_lettered": len(outcome.dead_lettered),
            "retried": len(outcome.retry),
        },
    )

    def record_handler(record: KinesisStreamRecord) -> None:
        reason = outcome.retry.get(record.kinesis.sequence_number)
        if reason is not None:
            raise RecordRetried(reason)

    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one batch of the transaction stream."""
    return handle(event, context, _ingest())
