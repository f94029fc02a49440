"""Lambda entry point of the Firehose architecture: `fraud_firehose_enrich.handler.lambda_handler`."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes import (
    KinesisFirehoseDataTransformationRecord,
    KinesisFirehoseDataTransformationResponse,
    KinesisFirehoseEvent,
    event_source,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from fraud_scoring.scoring import EndpointScorer

from .enrich import EnrichSettings, enrich, logger

# Throttling and 5xx answers are retried by botocore (standard mode) before a record is failed.
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 4}, read_timeout=10, connect_timeout=5)


@cache
def _dependencies() -> tuple[EndpointScorer, EnrichSettings]:
    settings = EnrichSettings.from_env()
    return EndpointScorer(boto3.client("sagemaker-runtime", config=_RETRIES), settings.endpoint_name), settings


def handle(event: KinesisFirehoseEvent, scorer: EndpointScorer, settings: EnrichSettings) -> dict[str, Any]:
    """The transformation response for one Firehose batch."""
    results = enrich([dict(record.raw_event) for record in event.records], scorer=scorer, settings=settings)
    response = KinesisFirehoseDataTransformationResponse()
    for result in results:
        response.add_record(
            KinesisFirehoseDataTransformationRecord(
                record_id=result["recordId"], result=result["result"], data=result["data"]
            )
        )
    return response.asdict()


@logger.inject_lambda_context
@event_source(data_class=KinesisFirehoseEvent)
def lambda_handler(event: KinesisFirehoseEvent, context: LambdaContext) -> dict[str, Any]:
    """Enrich one batch of the delivery stream."""
    scorer, settings = _dependencies()
    return handle(event, scorer, settings)
