"""The transaction schema, the endpoint's CSV contract and the decision thresholds."""

from __future__ import annotations

import io
import json

import pytest

from fraud_scoring.schema import FEATURE_NAMES, InvalidTransaction, features_csv, parse_record, parse_transaction
from fraud_scoring.scoring import EndpointScorer, ScoringError, Thresholds, parse_scores

pytestmark = pytest.mark.xdist_group("fraud")

VALID = {
    "transaction_id": "tx-1",
    "card_id": "card-1",
    "timestamp": "2026-01-01T10:00:00+00:00",
    **{name: 1.0 for name in FEATURE_NAMES},
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"amount": "12.5"}, "amount"),
        ({"new_device": True}, "new_device"),
        ({"hour_of_day": 24}, "hour_of_day"),
        ({"amount": -1}, "amount"),
        ({"transaction_id": "has spaces"}, "transaction_id"),
        ({"timestamp": "2026-01-01T10:00:00"}, "timestamp"),
        ({"extra": 1}, "extra"),
    ],
)
def test_an_invalid_transaction_is_refused_naming_the_field(change: dict, named: str) -> None:
    with pytest.raises(InvalidTransaction, match=named):
        parse_transaction({**VALID, **change})


def test_missing_fields_and_non_json_records_are_refused() -> None:
    without = {key: value for key, value in VALID.items() if key != "distance_from_home_km"}
    with pytest.raises(InvalidTransaction, match="distance_from_home_km"):
        parse_transaction(without)
    with pytest.raises(InvalidTransaction, match="not UTF-8 JSON"):
        parse_record(b"\xff{")
    with pytest.raises(InvalidTransaction, match="JSON object"):
        parse_record(b"[1, 2]")


def test_the_csv_body_follows_the_models_column_order() -> None:
    values = [round(0.01 * (i + 1), 2) for i in range(len(FEATURE_NAMES))]
    transaction = parse_transaction({**VALID, **dict(zip(FEATURE_NAMES, values, strict=True))})
    assert features_csv([transaction, transaction]) == (",".join(repr(value) for value in values) + "\n") * 2


def test_scores_must_be_one_probability_per_transaction() -> None:
    assert parse_scores(b"0.1\n0.9\n", expected=2) == [0.1, 0.9]
    with pytest.raises(ScoringError, match="2 scores for 3"):
        parse_scores(b"0.1\n0.9\n", expected=3)
    with pytest.raises(ScoringError, match="outside"):
        parse_scores(b"1.5\n", expected=1)
    with pytest.raises(ScoringError, match="one probability per line"):
        parse_scores(b"oops\n", expected=1)


def test_thresholds_decide_and_must_be_ordered() -> None:
    thresholds = Thresholds(investigate=0.2, block=0.8)
    assert [thresholds.decide(s) for s in (0.0, 0.1999, 0.2, 0.7999, 0.8, 1.0)] == [
        "approve",
        "approve",
        "investigate",
        "investigate",
        "block",
        "block",
    ]
    with pytest.raises(ValueError, match="investigate < block"):
        Thresholds(investigate=0.8, block=0.2)


class _Runtime:
    """A SageMaker runtime client that records the request and answers like the model server."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[dict] = []

    def invoke_endpoint(self, **request: object) -> dict:
        self.requests.append(request)
        return {"Body": io.BytesIO(self.answer)}


def test_a_batch_is_scored_with_one_csv_call() -> None:
    runtime = _Runtime(b"0.25\n0.75\n")
    transactions = [parse_transaction(VALID), parse_transaction({**VALID, "transaction_id": "tx-2"})]
    assert EndpointScorer(runtime, "ep").score(transactions) == [0.25, 0.75]
    (request,) = runtime.requests
    assert request["ContentType"] == request["Accept"] == "text/csv"
    assert request["Body"] == features_csv(transactions).encode()
    assert json.loads(json.dumps(request["EndpointName"])) == "ep"
