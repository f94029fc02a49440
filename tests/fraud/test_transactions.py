"""The transaction generator: realistic, valid, about 1 % fraud, features computed from each card's past."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_model.transactions import LABEL, GeneratorSettings, generate, to_events
from fraud_scoring.schema import FEATURE_NAMES, parse_transaction

pytestmark = pytest.mark.xdist_group("fraud")
SMALL = GeneratorSettings(cards=300, days=30, seed=5)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return generate(SMALL)


def test_same_settings_same_data_and_about_one_percent_fraud(table: pd.DataFrame) -> None:
    assert generate(SMALL).equals(table)
    assert not generate(GeneratorSettings(cards=300, days=30, seed=6)).equals(table)
    assert 0.005 < table[LABEL].mean() < 0.02
    assert 0.005 < generate(GeneratorSettings(cards=600, days=10, seed=5))[LABEL].mean() < 0.02
    assert set(table["fraud_type"]) == {"", "account_takeover", "cloned_card"}
    assert table["timestamp"].is_monotonic_increasing
    assert table["transaction_id"].is_unique


def test_every_event_is_a_valid_transaction_and_carries_no_label(table: pd.DataFrame) -> None:
    events = to_events(table)
    assert len(events) == len(table)
    for event in events:
        assert LABEL not in event and "fraud_type" not in event
        parse_transaction(event)


def test_velocity_features_count_only_the_cards_earlier_payments(table: pd.DataFrame) -> None:
    times = pd.to_datetime(table["timestamp"])
    busiest = table["card_id"].value_counts().index[:5]
    for card in busiest:
        rows = table[table["card_id"] == card]
        card_times = times[rows.index]
        for index, row in rows.iterrows():
            earlier = rows[(card_times < times[index]) & (card_times >= times[index] - pd.Timedelta(hours=1))]
            day = rows[(card_times < times[index]) & (card_times >= times[index] - pd.Timedelta(hours=24))]
            assert row["card_txn_count_1h"] == len(earlier), (card, index)
            assert row["card_amount_24h"] == pytest.approx(day["amount"].sum(), abs=0.02 * max(len(day), 1))


def test_the_documented_fraud_mechanism_shows_in_the_features(table: pd.DataFrame) -> None:
    legit = table[table[LABEL] == 0]
    takeover = table[table["fraud_type"] == "account_takeover"]
    cloned = table[table["fraud_type"] == "cloned_card"]
    assert takeover["new_device"].mean() > 5 * legit["new_device"].mean()
    assert (takeover["card_present"] == 0).all()
    assert (cloned["card_present"] == 1).all()
    assert cloned["distance_from_home_km"].median() > 50 * legit["distance_from_home_km"].median()
    assert np.all(table[list(FEATURE_NAMES)].to_numpy() >= 0)
