"""The event architecture's Express workflow: one transaction event in, one enriched event out.

Started by the transaction bus's rule with the EventBridge event as input (the transaction is its
`detail`):

1. `Validate*`: the detail must be a transaction as `fraud_scoring.schema` defines it (every field
   present, of its type, within its range); otherwise -> dead-letter queue with the reason.
2. `Score`: `InvokeEndpoint` with the transaction's features as one CSV row (retried with back-off).
3. `Decide`: approve / investigate / block from the two thresholds.
4. `Claim`: the transaction and its decision are put in the table on the condition that its ID
   is new. An event delivered twice (EventBridge delivers at least once) stops here, so it is
   never notified or published twice.
5. `Notify` (investigate, block): SNS `Publish`; `PublishEnriched`: the transaction with its score
   and decision on the enriched bus.
6. Any failure after the claim deletes the claim again (`Release`), so a redrive starts clean; every
   failure ends in the dead-letter queue (SQS) with the reason and the original event.

Three API calls per transaction (`InvokeEndpoint`, `PutItem`, `PutEvents`), four when notified:
EventBridge starts one execution per event, so nothing here can be batched (the stream
architecture batches).
"""

from __future__ import annotations

from typing import Any

from fraud_scoring.scoring import DECISIONS, Thresholds
from stacks.components.fraud.decision_states import (
    CONDITIONAL_CHECK_FAILED,
    RetryPolicy,
    decision_choice,
    dynamodb_retry,
    feature_csv_row,
    notified,
    retry_all,
    score_task,
    transaction_item,
    validation_rules,
)

SOURCE = "eventbridge"
ENRICHED_SOURCE = "fraud-detection"
ENRICHED_DETAIL_TYPE = "Transaction Scored"
INVALID_CAUSE = (
    "the event's detail is not a transaction: every field of fraud_scoring.schema must be present, "
    "of its type and within its range"
)


def transaction_pattern(*, source: str, detail_type: str) -> dict[str, list[str]]:
    """The event pattern (EventBridge JSON) of transactions on the transaction bus."""
    return {"source": [source], "detail-type": [detail_type]}


def _to_dead_letters(error: str) -> dict[str, Any]:
    return {"ErrorEquals": [error], "ResultPath": "$.failure", "Next": "DeadLetter"}


def _validation_states() -> dict[str, Any]:
    present, typed, ranges = validation_rules("$.detail")
    steps = [("ValidatePresence", present, "ValidateTypes"), ("ValidateTypes", typed, "ValidateRanges")]
    steps.append(("ValidateRanges", ranges, "Score"))
    states: dict[str, Any] = {
        name: {"Type": "Choice", "Choices": [{"And": rules, "Next": following}], "Default": "Invalid"}
        for name, rules, following in steps
    }
    states["Invalid"] = {
        "Type": "Pass",
        "Parameters": {"Error": "InvalidTransaction", "Cause": INVALID_CAUSE},
        "ResultPath": "$.failure",
        "Next": "DeadLetter",
    }
    return states


def _decided(decision: str) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Parameters": {"score.$": "$.fraud.score", "decision": decision, "notify": notified(decision)},
        "ResultPath": "$.fraud",
        "Next": "Claim",
    }


def _release_and_dead_letter(table_name: str, queue_url: str, retry: RetryPolicy) -> dict[str, Any]:
    return {
        "Release": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:deleteItem",
            "Parameters": {"TableName": table_name, "Key": {"transaction_id": {"S.$": "$.detail.transaction_id"}}},
            "ResultPath": None,
            "Retry": dynamodb_retry(),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.release_failure", "Next": "DeadLetter"}],
            "Next": "DeadLetter",
        },
        "DeadLetter": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {
                "QueueUrl": queue_url,
                "MessageBody": {"reason.$": "$.failure", "event.$": "$$.Execution.Input"},
                "MessageAttributes": {"error": {"DataType": "String", "StringValue.$": "$.failure.Error"}},
            },
            "Retry": retry_all(retry),
            "ResultPath": None,
            "Next": "DeadLettered",
        },
        "DeadLettered": {
            "Type": "Fail",
            "Error": "DeadLettered",
            "Cause": "the transaction was sent to the dead-letter queue with the reason",
        },
    }


def event_workflow_definition(
    *,
    endpoint_name: str,
    table_name: str,
    topic_arn: str,
    enriched_bus_name: str,
    dead_letter_queue_url: str,
    thresholds: Thresholds,
    retry: RetryPolicy,
) -> dict[str, Any]:
    """The Amazon States Language of the event architecture's workflow."""
    score = score_task(
        endpoint_name=endpoint_name, body_path=feature_csv_row("$.detail"), retry=retry, next_state="ReadScore"
    )
    score["Catch"] = [_to_dead_letters("States.ALL")]
    release = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Release"}]
    return {
        "Comment": "Fraud detection, event architecture: score, record once, notify, publish the enriched event",
        "StartAt": "ValidatePresence",
        "States": {
            **_validation_states(),
            "Score": score,
            "ReadScore": {
                "Type": "Pass",
                "Parameters": {"score.$": "States.StringToJson(States.ArrayGetItem($.scoring.scores, 0))"},
                "ResultPath": "$.fraud",
                "Next": "ScoreIsNumber",
            },
            "ScoreIsNumber": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.fraud.score", "IsNumeric": True},
                            {"Variable": "$.fraud.score", "NumericGreaterThanEquals": 0},
                            {"Variable": "$.fraud.score", "NumericLessThanEquals": 1},
                        ],
                        "Next": "Decide",
                    }
                ],
                "Default": "NotAProbability",
            },
            "NotAProbability": {
                "Type": "Pass",
                "Parameters": {"Error": "InvalidScore", "Cause": "the endpoint's answer is not a probability"},
                "ResultPath": "$.failure",
                "Next": "DeadLetter",
            },
            "Decide": decision_choice(
                score_path="$.fraud.score", thresholds=thresholds, state_for={d: d.capitalize() for d in DECISIONS}
            ),
            **{decision.capitalize(): _decided(decision) for decision in DECISIONS},
            "Claim": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                "Parameters": {
                    "TableName": table_name,
                    "Item": transaction_item(
                        transaction_path="$.detail",
                        score_path="$.fraud.score",
                        decision={"S.$": "$.fraud.decision"},
                        source=SOURCE,
                    ),
                    "ConditionExpression": "attribute_not_exists(transaction_id)",
                },
                "ResultPath": None,
                "Retry": dynamodb_retry(),
                "Catch": [
                    {"ErrorEquals": [CONDITIONAL_CHECK_FAILED], "ResultPath": None, "Next": "Duplicate"},
                    _to_dead_letters("States.ALL"),
                ],
                "Next": "NotifyOrNot",
            },
            "Duplicate": {"Type": "Succeed", "Comment": "already recorded, notified and published"},
            "NotifyOrNot": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fraud.notify", "BooleanEquals": True, "Next": "Notify"}],
                "Default": "PublishEnriched",
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": topic_arn,
                    "Message.$": "States.JsonToString($.detail)",
                    "MessageAttributes": {
                        "decision": {"DataType": "String", "StringValue.$": "$.fraud.decision"},
                        "score": {"DataType": "Number", "StringValue.$": "States.Format('{}', $.fraud.score)"},
                    },
                },
                "ResultPath": None,
                "Retry": retry_all(retry),
                "Catch": release,
                "Next": "PublishEnriched",
            },
            "PublishEnriched": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": {
                    "Entries": [
                        {
                            "EventBusName": enriched_bus_name,
                            "Source": ENRICHED_SOURCE,
                            "DetailType": ENRICHED_DETAIL_TYPE,
                            "Detail": {
                                "transaction.$": "$.detail",
                                "fraud": {"score.$": "$.fraud.score", "decision.$": "$.fraud.decision"},
                            },
                        }
                    ]
                },
                "ResultPath": None,
                "Retry": retry_all(retry),
                "Catch": release,
                "End": True,
            },
            **_release_and_dead_letter(table_name, dead_letter_queue_url, retry),
        },
    }
