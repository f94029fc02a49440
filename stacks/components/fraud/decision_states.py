"""Amazon States Language pieces both fraud workflows share: scoring, the decision, retries.

Generated from `fraud_scoring` (the features in the model's column order, their valid ranges, the
decisions), so the workflows and the Lambdas cannot disagree about what a transaction is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fraud_scoring.schema import FEATURES
from fraud_scoring.scoring import DECISIONS, NOTIFIED_DECISIONS, Thresholds

INVOKE_ENDPOINT = "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint"
# Errors of DynamoDB (AWS SDK integration names) worth retrying: capacity and transient faults.
DYNAMODB_TRANSIENT = [
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDb.InternalServerErrorException",
    "States.Timeout",
]
CONDITIONAL_CHECK_FAILED = "DynamoDb.ConditionalCheckFailedException"
TRANSACTION_CANCELED = "DynamoDb.TransactionCanceledException"


@dataclass(frozen=True)
class RetryPolicy:
    """How a workflow retries its calls (endpoint, SNS, EventBridge, SQS) with exponential back-off.

    `timeout_seconds` bounds each endpoint call.
    """

    timeout_seconds: int = 10
    max_attempts: int = 3
    interval_seconds: int = 1
    backoff_rate: float = 2.0


def score_task(*, endpoint_name: str, body_path: str, retry: RetryPolicy, next_state: str) -> dict[str, Any]:
    """`InvokeEndpoint` with a `text/csv` body; the answer's lines end up in `$.scoring.scores`.

    Every failure is retried (a 5xx, throttling, a timeout: the endpoint may recover; a 4xx costs
    a few cheap retries), then surfaces to the caller's Catch or fails the execution.
    """
    return {
        "Type": "Task",
        "Resource": INVOKE_ENDPOINT,
        "Parameters": {
            "EndpointName": endpoint_name,
            "ContentType": "text/csv",
            "Accept": "text/csv",
            "Body.$": body_path,
        },
        # Step Functions returns the blob body of an AWS SDK integration as text.
        "ResultSelector": {"scores.$": "States.StringSplit($.Body, '\n')"},
        "ResultPath": "$.scoring",
        "TimeoutSeconds": retry.timeout_seconds,
        "Retry": [
            {
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": retry.interval_seconds,
                "MaxAttempts": retry.max_attempts,
                "BackoffRate": retry.backoff_rate,
                "JitterStrategy": "FULL",
            }
        ],
        "Next": next_state,
    }


def retry_all(retry: RetryPolicy) -> list[dict[str, Any]]:
    """Retry any error of a call whose repetition is harmless (a publish, a send) per `retry`."""
    return [
        {
            "ErrorEquals": ["States.ALL"],
            "IntervalSeconds": retry.interval_seconds,
            "MaxAttempts": retry.max_attempts,
            "BackoffRate": retry.backoff_rate,
        }
    ]


def dynamodb_retry() -> list[dict[str, Any]]:
    """Retries for DynamoDB tasks: capacity and transient errors, never a failed condition."""
    return [{"ErrorEquals": DYNAMODB_TRANSIENT, "IntervalSeconds": 1, "MaxAttempts": 4, "BackoffRate": 2.0}]


def decision_choice(*, score_path: str, thresholds: Thresholds, state_for: dict[str, str]) -> dict[str, Any]:
    """Choice from the score to the state of each decision (`Thresholds.decide` in ASL)."""
    return {
        "Type": "Choice",
        "Choices": [
            {"Variable": score_path, "NumericGreaterThanEquals": thresholds.block, "Next": state_for["block"]},
            {
                "Variable": score_path,
                "NumericGreaterThanEquals": thresholds.investigate,
                "Next": state_for["investigate"],
            },
        ],
        "Default": state_for["approve"],
    }


def notified(decision: str) -> bool:
    """Whether a decision is announced on the notification topic."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
    return decision in NOTIFIED_DECISIONS


def transaction_item(
    *, transaction_path: str, score_path: str, decision: dict[str, str], source: str
) -> dict[str, Any]:
    """The DynamoDB item (AWS SDK JSON) recording a transaction with its score and decision.

    `decision` is the attribute value: `{"S": "block"}`, or `{"S.$": "<path>"}` to read it.
    """
    return {
        "transaction_id": {"S.$": f"{transaction_path}.transaction_id"},
        "card_id": {"S.$": f"{transaction_path}.card_id"},
        "decision": decision,
        "score": {"N.$": f"States.Format('{{}}', {score_path})"},
        "transaction": {"S.$": f"States.JsonToString({transaction_path})"},
        "recorded_at": {"S.$": "$$.State.EnteredTime"},
        "source": {"S": source},
    }


def feature_csv_row(transaction_path: str) -> str:
    """`States.Format` of one transaction's features as a CSV row, in the model's column order."""
    placeholders = ",".join("{}" for _ in FEATURES)
    arguments = ", ".join(f"{transaction_path}.{feature.name}" for feature in FEATURES)
    return f"States.Format('{placeholders}', {arguments})"


def validation_rules(transaction_path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Choice rules (presence, types, ranges) that accept exactly what `fraud_scoring.schema` accepts.

    Three lists, checked in order, so that no type or range test ever reads a missing field.
    """
    identity = ("transaction_id", "card_id", "timestamp")
    present = [{"Variable": f"{transaction_path}.{name}", "IsPresent": True} for name in identity] + [
        {"Variable": f"{transaction_path}.{feature.name}", "IsPresent": True} for feature in FEATURES
    ]
    typed = [{"Variable": f"{transaction_path}.{name}", "IsString": True} for name in identity] + [
        {"Variable": f"{transaction_path}.{feature.name}", "IsNumeric": True} for feature in FEATURES
    ]
    ranges = [
        rule
        for feature in FEATURES
        for rule in (
            {"Variable": f"{transaction_path}.{feature.name}", "NumericGreaterThanEquals": feature.minimum},
            {"Variable": f"{transaction_path}.{feature.name}", "NumericLessThanEquals": feature.maximum},
        )
    ]
    return present, typed, ranges
