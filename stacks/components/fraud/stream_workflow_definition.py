"""The stream architecture's Express workflow: score a batch, record each transaction once, notify.

Input (from the stream Lambda, one execution per batch of at most 100 transactions):
`{"transactions": [<transaction>...], "features_csv": "<one CSV row per transaction>"}`
(the Lambda validates and de-duplicates the batch and builds the CSV body; ASL cannot join rows).

1. `Score`: one `InvokeEndpoint` call for the whole batch (retried with back-off; when it still
   fails the execution fails and the Lambda keeps the records: retried, or dead-lettered with
   the reason once too old).
2. `Decide`: each score against the two thresholds -> approve / investigate / block.
3. `Claim`: one `TransactWriteItems` call puts every transaction with its score and decision,
   each conditional on `attribute_not_exists(transaction_id)`, so a redelivered transaction is
   never recorded (nor notified) twice. When any of them already exists, the whole transaction is
   cancelled and `ClaimEach` writes them one by one: the new ones are recorded, the existing ones
   are reported as duplicates and skipped.
4. `Notify`: block and investigate decisions of the newly recorded transactions go to SNS with
   `PublishBatch`, 10 per call. Entries SNS refuses have their record deleted again (`Release`)
   and the execution fails, so the retry records and notifies exactly those.

Output: `{"results": [{"transaction_id", "decision", "score", "status": "recorded" | "duplicate"}]}`.
A batch of 100 costs 3 API calls here when nothing is notified, 4 with notifications (plus the
Lambda's `StartSyncExecution`): the sample this replaces made about 3 per transaction.
"""

from __future__ import annotations

from typing import Any

from fraud_scoring.scoring import DECISIONS, Thresholds
from stacks.components.fraud.decision_states import (
    CONDITIONAL_CHECK_FAILED,
    TRANSACTION_CANCELED,
    RetryPolicy,
    decision_choice,
    dynamodb_retry,
    notified,
    score_task,
    transaction_item,
)

SOURCE = "kinesis"
SNS_BATCH = 10


def _decided(decision: str, *, table_name: str) -> dict[str, Any]:
    """What `Decide` keeps per transaction: its result, its claim and (when notified) its SNS entry."""
    state: dict[str, Any] = {
        "Type": "Pass",
        "Parameters": {
            "result": {
                "transaction_id.$": "$.transaction.transaction_id",
                "decision": decision,
                "score.$": "$.score",
                "status": "recorded",
            },
            "notify": notified(decision),
            "claim": {
                "Put": {
                    "TableName": table_name,
                    "Item": transaction_item(
                        transaction_path="$.transaction", score_path="$.score", decision={"S": decision}, source=SOURCE
                    ),
                    "ConditionExpression": "attribute_not_exists(transaction_id)",
                }
            },
        },
        "End": True,
    }
    if notified(decision):
        state["Parameters"]["entry"] = {
            "Id.$": "$.transaction.transaction_id",
            "Message.$": "States.JsonToString($.transaction)",
            "MessageAttributes": {
                "decision": {"DataType": "String", "StringValue": decision},
                "score": {"DataType": "Number", "StringValue.$": "States.Format('{}', $.score)"},
            },
        }
    return state


def _decide(thresholds: Thresholds, table_name: str) -> dict[str, Any]:
    states: dict[str, Any] = {
        "ByScore": decision_choice(
            score_path="$.score", thresholds=thresholds, state_for={d: d.capitalize() for d in DECISIONS}
        )
    }
    states.update({decision.capitalize(): _decided(decision, table_name=table_name) for decision in DECISIONS})
    return {
        "Type": "Map",
        "ItemsPath": "$.transactions",
        "ItemSelector": {
            "transaction.$": "$$.Map.Item.Value",
            "score.$": "States.StringToJson(States.ArrayGetItem($.scoring.scores, $$.Map.Item.Index))",
        },
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "ByScore", "States": states},
        "ResultPath": "$.decided",
        "Next": "Claim",
    }


def _claim_each(table_name: str) -> dict[str, Any]:
    return {
        "Type": "Map",
        "ItemsPath": "$.decided",
        "MaxConcurrency": 10,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "PutIfNew",
            "States": {
                "PutIfNew": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                    "Parameters": {
                        "TableName": table_name,
                        "Item.$": "$.claim.Put.Item",
                        "ConditionExpression": "attribute_not_exists(transaction_id)",
                    },
                    "ResultPath": None,
                    "Retry": dynamodb_retry(),
                    "Catch": [{"ErrorEquals": [CONDITIONAL_CHECK_FAILED], "ResultPath": None, "Next": "Duplicate"}],
                    "End": True,
                },
                "Duplicate": {
                    "Type": "Pass",
                    "Parameters": {
                        "result": {
                            "transaction_id.$": "$.result.transaction_id",
                            "decision.$": "$.result.decision",
                            "score.$": "$.result.score",
                            "status": "duplicate",
                        },
                        "notify": False,
                    },
                    "End": True,
                },
            },
        },
        "ResultPath": "$.decided",
        "Next": "AnyToNotify",
    }


def _publish_chunk(topic_arn: str, table_name: str, retry: RetryPolicy) -> dict[str, Any]:
    """One `PublishBatch` of up to 10 entries; refused entries have their record released."""
    return {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "PublishBatch",
        "States": {
            "PublishBatch": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sns:publishBatch",
                "Parameters": {"TopicArn": topic_arn, "PublishBatchRequestEntries.$": "$"},
                "ResultSelector": {"failed.$": "$.Failed[*].Id"},
                "Retry": [
                    {
                        "ErrorEquals": ["Sns.ThrottledException", "Sns.InternalErrorException", "States.Timeout"],
                        "IntervalSeconds": retry.interval_seconds,
                        "MaxAttempts": retry.max_attempts,
                        "BackoffRate": retry.backoff_rate,
                    }
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "ChunkRefused"}],
                "Next": "AnyRefused",
            },
            "ChunkRefused": {"Type": "Pass", "Parameters": {"failed.$": "$[*].Id"}, "Next": "Release"},
            "AnyRefused": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.failed[0]", "IsPresent": True, "Next": "Release"}],
                "Default": "ChunkNotified",
            },
            "Release": {
                "Type": "Map",
                "ItemsPath": "$.failed",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "DeleteRecord",
                    "States": {
                        "DeleteRecord": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::aws-sdk:dynamodb:deleteItem",
                            "Parameters": {"TableName": table_name, "Key": {"transaction_id": {"S.$": "$"}}},
                            "Retry": dynamodb_retry(),
                            "End": True,
                        }
                    },
                },
                "ResultPath": None,
                "Next": "ChunkFailed",
            },
            "ChunkFailed": {"Type": "Pass", "Parameters": {"ok": False}, "End": True},
            "ChunkNotified": {"Type": "Pass", "Parameters": {"ok": True}, "End": True},
        },
    }


def _notify(topic_arn: str, table_name: str, retry: RetryPolicy) -> dict[str, Any]:
    # Paths below only ever read arrays known to be non-empty (an empty match is an error in ASL).
    return {
        "AnyToNotify": {
            "Type": "Pass",
            "Parameters": {"any.$": "States.ArrayContains($.decided[*].notify, true)"},
            "ResultPath": "$.notifications",
            "Next": "NotifyOrDone",
        },
        "NotifyOrDone": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.notifications.any", "BooleanEquals": True, "Next": "ChunkNotifications"}],
            "Default": "Done",
        },
        "ChunkNotifications": {
            "Type": "Pass",
            "Parameters": {
                "chunks.$": f"States.ArrayPartition($.decided[?(@.notify == true)].entry, {SNS_BATCH})",
            },
            "ResultPath": "$.notifications",
            "Next": "Notify",
        },
        "Notify": {
            "Type": "Map",
            "ItemsPath": "$.notifications.chunks",
            "MaxConcurrency": 5,
            "ItemProcessor": _publish_chunk(topic_arn, table_name, retry),
            "ResultPath": "$.published",
            "Next": "AllNotified",
        },
        "AllNotified": {
            "Type": "Pass",
            "Parameters": {"refused.$": "States.ArrayContains($.published[*].ok, false)"},
            "ResultPath": "$.published",
            "Next": "NotificationsRefused",
        },
        "NotificationsRefused": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.published.refused", "BooleanEquals": True, "Next": "NotificationFailed"}],
            "Default": "Done",
        },
        "NotificationFailed": {
            "Type": "Fail",
            "Error": "NotificationFailed",
            "Cause": "SNS refused some notifications; their records were released so that the retry notifies them",
        },
        "Done": {"Type": "Pass", "Parameters": {"results.$": "$.decided[*].result"}, "End": True},
    }


def stream_workflow_definition(
    *, endpoint_name: str, table_name: str, topic_arn: str, thresholds: Thresholds, retry: RetryPolicy
) -> dict[str, Any]:
    """The Amazon States Language of the stream architecture's workflow."""
    return {
        "Comment": "Fraud detection, stream architecture: score a batch, record each transaction once, notify",
        "StartAt": "Score",
        "States": {
            "Score": score_task(
                endpoint_name=endpoint_name, body_path="$.features_csv", retry=retry, next_state="CountScores"
            ),
            "CountScores": {
                "Type": "Pass",
                "Parameters": {
                    "expected.$": "States.ArrayLength($.transactions)",
                    "received.$": "States.ArrayLength($.scoring.scores)",
                },
                "ResultPath": "$.counts",
                "Next": "ScoresMatch",
            },
            "ScoresMatch": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.counts.received", "NumericEqualsPath": "$.counts.expected", "Next": "Decide"}
                ],
                "Default": "ScoreCountMismatch",
            },
            "ScoreCountMismatch": {
                "Type": "Fail",
                "Error": "ScoreCountMismatch",
                "Cause": "the endpoint did not answer one score per transaction",
            },
            "Decide": _decide(thresholds, table_name),
            "Claim": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
                "Parameters": {"TransactItems.$": "$.decided[*].claim"},
                "ResultPath": None,
                "Retry": dynamodb_retry(),
                "Catch": [{"ErrorEquals": [TRANSACTION_CANCELED], "ResultPath": None, "Next": "ClaimEach"}],
                "Next": "AnyToNotify",
            },
            "ClaimEach": _claim_each(table_name),
            **_notify(topic_arn, table_name, retry),
        },
    }
