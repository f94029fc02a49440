"""What the Firehose transformation does with one batch (plain functions; `handler` is the entry point).

Every valid transaction of the batch is scored with one endpoint call and delivered with a `fraud`
object added: `{"score", "decision", "endpoint"}`, one JSON document per line. Records that cannot
be enriched are returned as `ProcessingFailed`: Firehose then writes them, untouched, under the
delivery stream's error prefix (`errors/processing-failed/...`), and the reason (which record,
which transaction, why) is logged as structured JSON by this function. Every record ID comes back
exactly once, as Firehose requires.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from fraud_scoring.schema import InvalidTransaction, parse_record
from fraud_scoring.scoring import EndpointScorer, ScoringError, Thresholds

logger = Logger(service="fraud-firehose-enrich")


@dataclass(frozen=True)
class EnrichSettings:
    """The endpoint and thresholds, from `ENDPOINT_NAME`, `INVESTIGATE_THRESHOLD`, `BLOCK_THRESHOLD`."""

    endpoint_name: str
    thresholds: Thresholds

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> EnrichSettings:
        """Read the settings from the environment."""
        env = os.environ if environ is None else environ
        return cls(
            endpoint_name=env["ENDPOINT_NAME"],
            thresholds=Thresholds(float(env["INVESTIGATE_THRESHOLD"]), float(env["BLOCK_THRESHOLD"])),
        )


def _failed(record_id: str, reason: str, transaction_id: str | None = None) -> dict[str, Any]:
    logger.warning(
        "record not enriched", extra={"record_id": record_id, "transaction_id": transaction_id, "reason": reason}
    )
    return {"recordId": record_id, "result": "ProcessingFailed", "data": "", "reason": reason}


def enrich(records: list[dict[str, Any]], *, scorer: EndpointScorer, settings: EnrichSettings) -> list[dict[str, Any]]:
    """The transformation result of each record, in input order (`recordId`, `result`, `data`, `reason`)."""
    results: dict[str, dict[str, Any]] = {}
    valid: list[tuple[str, Any]] = []
    for record in records:
        record_id = record["recordId"]
        try:
            valid.append((record_id, parse_record(base64.b64decode(record["data"]))))
        except (InvalidTransaction, ValueError) as error:
            results[record_id] = _failed(record_id, f"poison record: {error}")
    try:
        scores = scorer.score([transaction for _, transaction in valid])
    except ScoringError as error:
        for record_id, transaction in valid:
            results[record_id] = _failed(record_id, f"not scored: {error}", transaction.transaction_id)
        scores = []
    for (record_id, transaction), score in zip(valid, scores, strict=False):
        document = transaction.model_dump(mode="json")
        document["fraud"] = {
            "score": score,
            "decision": settings.thresholds.decide(score),
            "endpoint": settings.endpoint_name,
        }
        data = base64.b64encode((json.dumps(document) + "\n").encode()).decode()
        results[record_id] = {"recordId": record_id, "result": "Ok", "data": data}
    return [results[record["recordId"]] for record in records]
