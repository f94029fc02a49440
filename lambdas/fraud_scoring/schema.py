"""The transaction every architecture receives, and the model's features in the model's column order.

A transaction carries its identity (`transaction_id`, `card_id`, `timestamp`) and the features the
card processor computes when it authorises the payment (velocity and amount totals per card, distance
from the cardholder's home, device change...). The model reads the features only, in the order of
`FEATURES`; the generator (`fraud_model.transactions`) documents how each one arises.

Validation is strict: every feature must be a JSON number (not a string, not a boolean) within its
documented range, so a record that would make the model score garbage is rejected with the field
named instead. The state machine of the event architecture checks the same ranges (its Choice rules
are generated from `FEATURES`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model

# SNS PublishBatch entry IDs allow these characters only (and at most 80 of them); the
# transaction ID is used as that entry ID, so the schema enforces the same rule.
TRANSACTION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"


@dataclass(frozen=True)
class Feature:
    """One model input: its name, meaning and the range a valid transaction keeps to."""

    name: str
    description: str
    minimum: float
    maximum: float


MERCHANT_CATEGORIES = (
    "grocery",
    "restaurant",
    "fuel",
    "online_retail",
    "electronics",
    "travel",
    "digital_goods",
    "cash_withdrawal",
)

FEATURES: tuple[Feature, ...] = (
    Feature("amount", "payment amount in the card's currency", 0.01, 1_000_000),
    Feature(
        "merchant_category",
        "index into MERCHANT_CATEGORIES: " + ", ".join(f"{i} {c}" for i, c in enumerate(MERCHANT_CATEGORIES)),
        0,
        len(MERCHANT_CATEGORIES) - 1,
    ),
    Feature("hour_of_day", "local hour of the payment, 0-23", 0, 23),
    Feature("card_present", "1 when the card was read at a terminal, 0 for card-not-present (online)", 0, 1),
    Feature("new_device", "1 when the device or terminal was never seen for this card before", 0, 1),
    Feature("distance_from_home_km", "distance between the merchant and the cardholder's home", 0, 20_100),
    Feature(
        "km_per_hour_from_last",
        "distance from the card's previous payment divided by the time since it (travel speed)",
        0,
        1_000_000,
    ),
    Feature("card_txn_count_1h", "payments by this card in the hour before this one (velocity)", 0, 10_000),
    Feature("card_amount_24h", "amount spent by this card in the 24 hours before this payment", 0, 100_000_000),
    Feature("amount_to_card_average", "amount divided by the card's average payment amount", 0, 100_000),
    Feature("account_age_days", "days since the card account was opened", 0, 36_500),
)
FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in FEATURES)


class _TransactionBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: str = Field(pattern=TRANSACTION_ID_PATTERN)
    card_id: str = Field(min_length=1, max_length=64)
    timestamp: AwareDatetime


Transaction = create_model(  # type: ignore[call-overload]
    "Transaction",
    __base__=_TransactionBase,
    __doc__="A card payment to score: identity plus every feature of `FEATURES`.",
    **{
        feature.name: (
            Annotated[float, Field(ge=feature.minimum, le=feature.maximum, strict=True, allow_inf_nan=False)],
            ...,
        )
        for feature in FEATURES
    },
)


class InvalidTransaction(ValueError):
    """A record that is not a valid transaction; the message names every bad field."""


def parse_transaction(document: Any) -> Any:
    """Validate a decoded JSON document as a `Transaction`, or raise `InvalidTransaction` naming the fields."""
    if not isinstance(document, dict):
        raise InvalidTransaction(f"expected a JSON object with the transaction's fields, got {type(document).__name__}")
    try:
        return Transaction.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '<record>'}: {item['msg']}" for item in error.errors()
        )
        raise InvalidTransaction(f"invalid transaction: {problems}") from None


def parse_record(data: bytes) -> Any:
    """Decode one stream record (UTF-8 JSON) into a `Transaction`; `InvalidTransaction` otherwise."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidTransaction(f"record is not UTF-8 JSON: {error}") from None
    return parse_transaction(document)


def claimed_transaction_id(data: bytes) -> str | None:
    """The `transaction_id` a record carries, even when the record is not a valid transaction (else None).

    Lets a rejected record be found again by the ID its producer gave it.
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    value = document.get("transaction_id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def feature_row(transaction: Any) -> list[float]:
    """The model's input row for one transaction, in `FEATURE_NAMES` order."""
    return [float(getattr(transaction, name)) for name in FEATURE_NAMES]


def features_csv(transactions: list[Any]) -> str:
    """The endpoint's `text/csv` request body: one row per transaction, no header."""
    return "".join(",".join(repr(value) for value in feature_row(t)) + "\n" for t in transactions)


def is_finite(value: float) -> bool:
    """Whether a score is a real number (the endpoint's CSV could carry `nan`)."""
    return math.isfinite(value)
