"""Firehose architecture: the transformation Lambda's handler, scoring with the real model server.

The Lambda's SageMaker runtime client reaches the model server through
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, as the platform's other clients of an endpoint do.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any
from unittest import mock

import boto3
import pandas as pd
import pytest
from botocore.config import Config
from fraud_test_support import ENDPOINT, THRESHOLDS, FraudWorld, TrainedModel, payloads

from fraud_firehose_enrich.enrich import EnrichSettings
from fraud_model.training import predict
from fraud_scoring.scoring import EndpointScorer
from local_lifecycle.fraud_emulator import ApiCallCounter
from local_lifecycle.fraud_replay import replay_firehose

pytestmark = [pytest.mark.xdist_group("fraud"), pytest.mark.e2e]
SETTINGS = EnrichSettings(endpoint_name=ENDPOINT, thresholds=THRESHOLDS)


def _scorer(endpoint_url: str, counter: ApiCallCounter) -> EndpointScorer:
    environment = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    with mock.patch.dict(os.environ, environment):
        runtime = boto3.client(
            "sagemaker-runtime", config=Config(retries={"mode": "standard", "total_max_attempts": 2})
        )
    return EndpointScorer(counter.watch(runtime), ENDPOINT)


def test_every_record_comes_back_once_enriched_or_failed_with_one_call_per_batch(
    model_url: str, replay_events: list[dict[str, Any]], trained: TrainedModel
) -> None:
    details = replay_events[:120]
    counter = ApiCallCounter()
    records = [*payloads(details), b"{not json", json.dumps({**details[0], "card_present": 2}).encode()]
    result, outputs = replay_firehose(
        records, scorer=_scorer(model_url, counter), settings=SETTINGS, counter=counter, batch_size=50
    )
    assert result.lost == [] and len(outputs) == len(records)
    assert result.api_calls == result.deliveries == 3  # one endpoint call per Firehose batch
    assert [o["result"] for o in outputs].count("ProcessingFailed") == 2
    scores = predict(trained.model_dir, pd.DataFrame(details))
    enriched = [json.loads(base64.b64decode(o["data"])) for o in outputs if o["result"] == "Ok"]
    assert all(o["data"].endswith("=") or base64.b64decode(o["data"]).endswith(b"\n") for o in outputs if o["data"])
    for document, score in zip(enriched, scores, strict=True):
        assert document["fraud"]["score"] == pytest.approx(float(score), rel=1e-5)
        assert document["fraud"]["decision"] == THRESHOLDS.decide(float(score))
        assert document["fraud"]["endpoint"] == ENDPOINT


def test_scorer_down_fails_the_records_with_the_reason_and_loses_none(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    logging.getLogger("fraud-firehose-enrich").addHandler(handler)
    world.bridge.inject("ServiceUnavailable", "ServiceUnavailable")  # botocore's first try and its retry
    counter = ApiCallCounter()
    result, outputs = replay_firehose(
        payloads(replay_events[:10]),
        scorer=_scorer(world.emulator.url, counter),  # the emulator's runtime, with the fault queued
        settings=SETTINGS,
        counter=counter,
    )
    assert result.lost == [] and result.decisions == {}
    assert [o["result"] for o in outputs] == ["ProcessingFailed"] * 10
    assert world.bridge.calls == result.api_calls == 2
    logging.getLogger("fraud-firehose-enrich").removeHandler(handler)
    assert len(logged) == 10
    expected = "not scored: endpoint fraud-test-endpoint failed: ServiceUnavailable"
    assert all(record.__dict__["reason"].startswith(expected) for record in logged)
    assert {record.__dict__["transaction_id"] for record in logged} == {d["transaction_id"] for d in replay_events[:10]}
