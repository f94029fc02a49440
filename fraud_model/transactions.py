"""Synthetic card payments with a known, documented fraud mechanism (about 1 % fraud).

The simulation follows a population of cards over a period of days, then computes each payment's
features exactly as a card processor would at authorisation time (`fraud_scoring.schema.FEATURES`):
from the card's own history up to that payment, never from the future.

Legitimate behaviour
- Each card has a home location (on a 1,000 km square), an account age, a typical payment amount
  (log-normal across cards), a daily payment rate and one usual device.
- Payments happen mostly in the day and evening (an hour-of-day profile), near home (exponential
  distance, mean 5 km), in categories chosen by the card's habits; amounts vary log-normally
  around the card's typical amount and the category's scale.
- Some cards travel: for 2 to 7 days their payments happen at a distant place (a flight shows up
  as a high travel speed, legitimately). Now and then a cardholder pays from a new phone or
  browser (3 %), shops at night, or buys electronics online: fraud-like, but legitimate.

Fraud (the label)
- A share of cards is compromised at a random moment (accounts younger than a year more often).
- Account takeover, card not present (70 % of compromised cards): a burst of 3 to 12 online
  payments within 3 hours, mostly from a new device (85 %), in electronics, digital goods and
  online retail, at 2 to 10 times the card's typical amount, at any hour, usually geolocated far
  from home (70 %).
- Cloned card, card present (30 %): 2 to 6 payments within a day at a terminal 500 to 8,000 km
  from home, hours after a genuine payment at home (an impossible travel speed), in cash
  withdrawal, electronics and fuel.
- Fraudsters sometimes keep to small amounts or the usual device, and honest cardholders
  sometimes look like fraudsters, so the classes overlap and the model has real work to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from fraud_scoring.schema import FEATURE_NAMES, MERCHANT_CATEGORIES

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600.0
DAY = 24 * HOUR
AREA_KM = 1000.0
LABEL = "is_fraud"

CATEGORY = {name: index for index, name in enumerate(MERCHANT_CATEGORIES)}
# Typical amount of a category relative to the card's typical payment.
CATEGORY_SCALE = np.array([1.0, 0.8, 1.1, 1.3, 4.0, 6.0, 0.5, 2.0])
# Which categories honest cardholders pay with the card present (a terminal); the others online.
CARD_PRESENT_CATEGORIES = {"grocery", "restaurant", "fuel", "cash_withdrawal"}
LEGIT_CATEGORY_WEIGHTS = np.array([0.30, 0.20, 0.12, 0.18, 0.04, 0.03, 0.08, 0.05])
# Payments by local hour for honest cardholders: few at night, most in the day and evening.
HOUR_PROFILE = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 6, 6, 6, 5, 4, 3, 2], float)


@dataclass(frozen=True)
class GeneratorSettings:
    """Size and shape of the simulated population."""

    cards: int = 4000
    days: int = 30
    compromised_share: float = 0.14
    travel_share: float = 0.15
    seed: int = 7


def _legit_payments(rng: np.random.Generator, cards: pd.DataFrame, days: int) -> pd.DataFrame:
    counts = rng.poisson(cards["rate"].to_numpy() * days)
    card = np.repeat(cards.index.to_numpy(), counts)
    n = len(card)
    day = rng.integers(0, days, n)
    hour = rng.choice(24, n, p=HOUR_PROFILE / HOUR_PROFILE.sum())
    time = day * DAY + hour * HOUR + rng.uniform(0, HOUR, n)
    category = rng.choice(len(MERCHANT_CATEGORIES), n, p=LEGIT_CATEGORY_WEIGHTS)
    home_x, home_y = cards["home_x"].to_numpy()[card], cards["home_y"].to_numpy()[card]
    radius = rng.exponential(5.0, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    x, y = home_x + radius * np.cos(angle), home_y + radius * np.sin(angle)
    # Travellers: payments inside the trip window happen at the trip's destination.
    trip_start = cards["trip_start"].to_numpy()[card]
    trip_end = trip_start + cards["trip_days"].to_numpy()[card] * DAY
    away = (time >= trip_start) & (time < trip_end)
    x = np.where(away, cards["trip_x"].to_numpy()[card] + radius * np.cos(angle), x)
    y = np.where(away, cards["trip_y"].to_numpy()[card] + radius * np.sin(angle), y)
    # Online payments are geolocated by IP: now and then far from home (VPN, a shop abroad).
    online = ~np.isin(category, [CATEGORY[name] for name in CARD_PRESENT_CATEGORIES])
    remote = online & (rng.random(n) < 0.04)
    remote_distance = rng.uniform(50, 3000, n)
    x = np.where(remote, home_x + remote_distance * np.cos(angle), x)
    y = np.where(remote, home_y + remote_distance * np.sin(angle), y)
    amount = cards["typical_amount"].to_numpy()[card] * CATEGORY_SCALE[category] * rng.lognormal(0, 0.7, n)
    return pd.DataFrame(
        {
            "card": card,
            "time": time,
            "x": x,
            "y": y,
            "category": category,
            "amount": amount,
            "new_device": (rng.random(n) < 0.05).astype(float),
            "card_present": np.isin(category, [CATEGORY[name] for name in CARD_PRESENT_CATEGORIES]).astype(float),
            "fraud_type": "",
        }
    )


def _account_takeover(rng: np.random.Generator, card: Any, start: float) -> dict[str, list[Any]]:
    n = int(rng.integers(1, 9))
    far = rng.random() < 0.5
    distance = rng.uniform(50, 3000) if far else rng.exponential(20)
    angle = rng.uniform(0, 2 * np.pi)
    small = rng.random() < 0.3  # some fraudsters test the card with small amounts only
    categories = rng.choice(
        [CATEGORY["electronics"], CATEGORY["digital_goods"], CATEGORY["online_retail"]], n, p=[0.45, 0.3, 0.25]
    )
    multiple = rng.lognormal(-0.3, 0.5, n) if small else rng.lognormal(0.8, 0.6, n)
    return {
        "time": list(start + np.sort(rng.uniform(0, 3 * HOUR, n))),
        "x": [card.home_x + distance * np.cos(angle)] * n,
        "y": [card.home_y + distance * np.sin(angle)] * n,
        "category": list(categories),
        "amount": list(card.typical_amount * multiple),
        "new_device": list((rng.random(n) < 0.6).astype(float)),
        "card_present": [0.0] * n,
        "fraud_type": ["account_takeover"] * n,
    }


def _cloned_card(rng: np.random.Generator, card: Any, start: float) -> dict[str, list[Any]]:
    n = int(rng.integers(1, 6))
    distance = rng.uniform(100, 3000)
    angle = rng.uniform(0, 2 * np.pi)
    categories = rng.choice(
        [CATEGORY["cash_withdrawal"], CATEGORY["electronics"], CATEGORY["fuel"]], n, p=[0.5, 0.3, 0.2]
    )
    return {
        "time": list(start + np.sort(rng.uniform(0, DAY, n))),
        "x": [card.home_x + distance * np.cos(angle)] * n,
        "y": [card.home_y + distance * np.sin(angle)] * n,
        "category": list(categories),
        "amount": list(card.typical_amount * CATEGORY_SCALE[categories] * rng.lognormal(0.3, 0.6, n)),
        "new_device": [0.0] * n,
        "card_present": [1.0] * n,  # a copy of the card's magnetic stripe, read at a terminal
        "fraud_type": ["cloned_card"] * n,
    }


def _fraud_payments(rng: np.random.Generator, cards: pd.DataFrame, legit: pd.DataFrame, days: int) -> pd.DataFrame:
    columns = ("card", "time", "x", "y", "category", "amount", "new_device", "card_present")
    rows: dict[str, list[Any]] = {key: [] for key in columns}
    rows["fraud_type"] = []
    last_legit = legit.groupby("card")["time"].max()
    for card in cards[cards["compromised"]].itertuples():
        start = float(rng.uniform(2 * DAY, days * DAY - DAY))
        if card.Index in last_legit.index and rng.random() < 0.5:
            # Fraud often starts hours after the cardholder's own last payment.
            start = min(start, float(last_legit[card.Index]) + float(rng.uniform(1, 12)) * HOUR)
        burst = _account_takeover(rng, card, start) if rng.random() < 0.7 else _cloned_card(rng, card, start)
        for key, values in burst.items():
            rows[key].extend(values)
        rows["card"].extend([card.Index] * len(burst["time"]))
    return pd.DataFrame(rows)


def _cards(rng: np.random.Generator, settings: GeneratorSettings) -> pd.DataFrame:
    n = settings.cards
    account_age = rng.uniform(10, 3650, n)
    young = account_age < 365
    # compromised_share is per 30 days, so the fraud share stays about the same for any period.
    share = settings.compromised_share * settings.days / 30
    compromised = rng.random(n) < np.where(young, share * 2.5, share * 0.8)
    travels = rng.random(n) < settings.travel_share
    trip_distance = rng.uniform(200, 3000, n)
    trip_angle = rng.uniform(0, 2 * np.pi, n)
    home_x, home_y = rng.uniform(0, AREA_KM, n), rng.uniform(0, AREA_KM, n)
    return pd.DataFrame(
        {
            "home_x": home_x,
            "home_y": home_y,
            "account_age": account_age,
            "typical_amount": rng.lognormal(np.log(35), 0.7, n),
            "rate": rng.gamma(2.0, 0.9, n),
            "compromised": compromised,
            "trip_start": np.where(travels, rng.uniform(0, settings.days * DAY, n), np.inf),
            "trip_days": rng.integers(2, 8, n),
            "trip_x": home_x + trip_distance * np.cos(trip_angle),
            "trip_y": home_y + trip_distance * np.sin(trip_angle),
        }
    )


def _features(payments: pd.DataFrame, cards: pd.DataFrame) -> pd.DataFrame:
    """What the processor knows at authorisation: features from the card's history up to each payment."""
    df = payments.sort_values(["card", "time"], kind="stable").reset_index(drop=True)
    card = df["card"].to_numpy()
    time = df["time"].to_numpy()
    # One sorted key per (card, time): a search on it never crosses into another card's payments.
    key = card * (10 * DAY * 1000) + time
    index = np.arange(len(df))
    count_1h = index - np.searchsorted(key, key - HOUR, side="left")
    amount = df["amount"].to_numpy()
    cumulative = np.concatenate([[0.0], np.cumsum(amount)])
    amount_24h = cumulative[index] - cumulative[np.searchsorted(key, key - DAY, side="left")]
    same_card = np.concatenate([[False], card[1:] == card[:-1]])
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    hop = np.hypot(x - np.roll(x, 1), y - np.roll(y, 1))
    hours = np.maximum((time - np.roll(time, 1)) / HOUR, 1 / 60)  # at least a minute apart
    speed = np.where(same_card, hop / hours, 0.0)
    home_x, home_y = cards["home_x"].to_numpy()[card], cards["home_y"].to_numpy()[card]
    category = df["category"].to_numpy()
    features = pd.DataFrame(
        {
            "amount": np.round(np.clip(amount, 0.01, None), 2),
            "merchant_category": category.astype(float),
            "hour_of_day": np.floor((time % DAY) / HOUR),
            "card_present": df["card_present"].to_numpy(),
            "new_device": df["new_device"].to_numpy(),
            "distance_from_home_km": np.round(np.hypot(x - home_x, y - home_y), 1),
            "km_per_hour_from_last": np.round(speed, 1),
            "card_txn_count_1h": count_1h.astype(float),
            "card_amount_24h": np.round(amount_24h, 2),
            "amount_to_card_average": np.round(amount / cards["typical_amount"].to_numpy()[card], 3),
            "account_age_days": np.floor(cards["account_age"].to_numpy()[card] + time / DAY),
        }
    )
    features["card"] = card
    features["time"] = time
    features["fraud_type"] = df["fraud_type"].to_numpy()
    return features


def generate(settings: GeneratorSettings = GeneratorSettings()) -> pd.DataFrame:
    """Simulate the population; one row per payment in time order, with the features and `is_fraud`.

    Columns: `transaction_id`, `card_id`, `timestamp` (ISO 8601, UTC), every feature of
    `FEATURE_NAMES`, `is_fraud` (1 or 0) and `fraud_type` (empty for legitimate payments). The same
    settings always give the same data.
    """
    rng = np.random.default_rng(settings.seed)
    cards = _cards(rng, settings)
    legit = _legit_payments(rng, cards, settings.days)
    fraud = _fraud_payments(rng, cards, legit, settings.days)
    payments = pd.concat([legit, fraud], ignore_index=True)
    payments = payments[(payments["time"] >= 0) & (payments["time"] < settings.days * DAY)]
    table = _features(payments, cards).sort_values("time", kind="stable").reset_index(drop=True)
    table.insert(0, "transaction_id", [f"tx-{settings.seed}-{i:08d}" for i in range(len(table))])
    table.insert(1, "card_id", [f"card-{c:06d}" for c in table.pop("card")])
    seconds = table.pop("time").to_numpy()
    table.insert(2, "timestamp", [(START + timedelta(seconds=float(s))).isoformat() for s in seconds])
    table[LABEL] = (table["fraud_type"] != "").astype(int)
    return table[["transaction_id", "card_id", "timestamp", *FEATURE_NAMES, LABEL, "fraud_type"]]


def to_events(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The transactions as the architectures receive them: identity and features, never the label."""
    columns = ["transaction_id", "card_id", "timestamp", *FEATURE_NAMES]
    return [
        {name: (value if name in ("transaction_id", "card_id", "timestamp") else float(value)) for name, value in row}
        for row in (zip(columns, values, strict=True) for values in table[columns].itertuples(index=False))
    ]
