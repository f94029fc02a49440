"""Event architecture, fault injection: the event workflow's definition on the emulator, the real model server.

EventBridge cannot target a state machine on the emulator; the replay delivers through a queue
behind the rule (the same event pattern) and starts one execution per event, as EventBridge would.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from fraud_test_support import THRESHOLDS, FraudWorld, TrainedModel
from moto.events.models import EventPattern

from fraud_model.training import predict
from local_lifecycle.fraud_replay import replay_events
from local_lifecycle.fraud_resources import client, drain, table_items
from stacks.components.fraud.event_workflow_definition import (
    ENRICHED_DETAIL_TYPE,
    ENRICHED_SOURCE,
    transaction_pattern,
)

pytestmark = [pytest.mark.xdist_group("fraud"), pytest.mark.e2e]


def test_events_are_scored_recorded_once_notified_and_published_enriched(
    world: FraudWorld, replay_events: list[dict[str, Any]], trained: TrainedModel
) -> None:
    details = replay_events[:12]
    result = replay_events_through(world, details + details[:3])  # three delivered twice
    assert result.lost == [] and result.duplicates == 3 and len(result.decisions) == 12
    scores = predict(trained.model_dir, pd.DataFrame(details))
    expected = {d["transaction_id"]: THRESHOLDS.decide(float(s)) for d, s in zip(details, scores, strict=True)}
    assert result.decisions == expected
    enriched = [json.loads(m["Body"]) for m in drain(world.emulator, world.resources.enriched_queue_url)]
    assert len(enriched) == 12  # the duplicates were not published again
    for event in enriched:
        assert (event["source"], event["detail-type"]) == (ENRICHED_SOURCE, ENRICHED_DETAIL_TYPE)
        transaction = event["detail"]["transaction"]
        assert event["detail"]["fraud"]["decision"] == expected[transaction["transaction_id"]]
    assert result.notified == sum(1 for decision in expected.values() if decision != "approve") > 0
    # InvokeEndpoint + PutItem + PutEvents (+ Publish when notified); a duplicate stops after PutItem.
    assert result.api_calls == 12 * 3 + result.notified + 3 * 2


def test_every_failure_ends_in_the_dead_letter_queue_with_its_reason(
    world: FraudWorld, replay_events: list[dict[str, Any]]
) -> None:
    invalid = {**replay_events[0], "transaction_id": "tx-invalid", "hour_of_day": 25}
    missing = {key: value for key, value in replay_events[1].items() if key != "amount"}
    world.bridge.inject("ServiceUnavailable", "ServiceUnavailable")  # the next event's scoring, and its retry
    scorer_down = replay_events_through(world, [replay_events[2]])
    assert json.loads(next(iter(scorer_down.dead_lettered.values())))["Error"].startswith("sagemakerruntime.")
    bad = replay_events_through(world, [invalid, missing])
    assert {json.loads(reason)["Error"] for reason in bad.dead_lettered.values()} == {"InvalidTransaction"}
    # The enriched bus is gone: PutEvents fails, the claim is released, the event is kept with the reason.
    client(world.emulator, "events").delete_event_bus(Name=world.resources.enriched_bus)
    unpublished = replay_events_through(world, [replay_events[3]])
    (reason,) = unpublished.dead_lettered.values()
    assert json.loads(reason)["Error"]  # on AWS EventBridge.FailedEntry; the emulator says States.Runtime
    for result, count in ((scorer_down, 1), (bad, 2), (unpublished, 1)):
        assert result.lost == [] and result.decisions == {} and len(result.dead_lettered) == count
    assert table_items(world.emulator, world.resources.events.table) == {}


def test_the_rule_pattern_selects_transactions_only() -> None:
    pattern = EventPattern.load(json.dumps(transaction_pattern(source="payments", detail_type="Transaction")))
    assert pattern.matches_event({"source": "payments", "detail-type": "Transaction", "detail": {}})
    assert not pattern.matches_event({"source": "payments", "detail-type": "Refund", "detail": {}})
    assert not pattern.matches_event({"source": "fraud-detection", "detail-type": "Transaction", "detail": {}})


def replay_events_through(world: FraudWorld, details: list[dict[str, Any]]) -> Any:
    """Replay `details` as events on the transaction bus."""
    return replay_events(world.emulator, world.resources, details)
