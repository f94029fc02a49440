"""One endpoint call per batch, and the decision each score leads to.

The endpoint is the platform's XGBoost image serving a `binary:logistic` model: `text/csv` rows in,
one probability per line out (the SageMaker hosting contract of `containers/xgboost`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from fraud_scoring.schema import features_csv, is_finite

Decision = Literal["approve", "investigate", "block"]
DECISIONS: tuple[Decision, ...] = ("approve", "investigate", "block")
NOTIFIED_DECISIONS: tuple[Decision, ...] = ("investigate", "block")


@dataclass(frozen=True)
class Thresholds:
    """Fraud probability at or above which a transaction is investigated, and blocked."""

    investigate: float
    block: float

    def __post_init__(self) -> None:
        if not 0 < self.investigate < self.block < 1:
            raise ValueError(
                f"thresholds must satisfy 0 < investigate < block < 1 (got investigate={self.investigate}, "
                f"block={self.block})"
            )

    def decide(self, score: float) -> Decision:
        """`block` at or above the block threshold, `investigate` at or above the other, else `approve`."""
        if score >= self.block:
            return "block"
        if score >= self.investigate:
            return "investigate"
        return "approve"


class ScoringError(Exception):
    """The endpoint did not score the batch; the message says why (kept with the records it concerns)."""


def parse_scores(body: bytes, *, expected: int) -> list[float]:
    """Read the endpoint's CSV answer: exactly `expected` probabilities in [0, 1], one per line."""
    try:
        lines = [line.strip() for line in body.decode("utf-8").splitlines() if line.strip()]
        scores = [float(line.split(",")[0]) for line in lines]
    except (UnicodeDecodeError, ValueError) as error:
        raise ScoringError(f"endpoint answer is not one probability per line: {error}") from None
    if len(scores) != expected:
        raise ScoringError(f"endpoint answered {len(scores)} scores for {expected} transactions")
    bad = [score for score in scores if not is_finite(score) or not 0 <= score <= 1]
    if bad:
        raise ScoringError(f"endpoint answered scores outside [0, 1]: {bad[:3]}")
    return scores


class EndpointScorer:
    """Scores a batch of transactions with one `InvokeEndpoint` call."""

    def __init__(self, client: Any, endpoint_name: str) -> None:
        self._client = client
        self._endpoint_name = endpoint_name

    def score(self, transactions: list[Any]) -> list[float]:
        """Fraud probabilities, in the order of `transactions`; `ScoringError` when the endpoint fails."""
        if not transactions:
            return []
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint_name,
                ContentType="text/csv",
                Accept="text/csv",
                Body=features_csv(transactions).encode(),
            )
            body = response["Body"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            raise ScoringError(
                f"endpoint {self._endpoint_name} failed: {details.get('Code', 'error')}: {details.get('Message', '')}"
            ) from None
        except BotoCoreError as error:
            raise ScoringError(f"endpoint {self._endpoint_name} unreachable: {error}") from None
        return parse_scores(body, expected=len(transactions))
