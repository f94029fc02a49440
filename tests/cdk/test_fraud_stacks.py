"""The three fraud detection stacks: what each one deploys, and the configuration that drives them.

cfn-lint and cdk-nag run on these templates in `test_lint_and_nag.py` (every template of the app).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk.assertions import Match, Template

from stacks.app_builder import FEATURE_FLAGS, add_fraud_detection_stacks
from stacks.components.fraud.decision_states import RetryPolicy
from stacks.components.fraud.endpoint import thresholds
from stacks.components.fraud.event_workflow_definition import event_workflow_definition
from stacks.components.fraud.stream_workflow_definition import stream_workflow_definition
from stacks.config import ConfigError, parse_config
from stacks.fraud_firehose_stack import ERROR_PREFIX
from tooling.requirement_pins import read_pins

pytestmark = pytest.mark.xdist_group("cdk")
ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
CONFIG = parse_config(DEFAULT)
FRAUD = CONFIG.fraud_detection
ENDPOINT_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/fraud-detector-prod"


def with_change(path: str, value: object) -> dict[str, Any]:
    """The default configuration with one dotted key set, or deleted when `value` is `...`."""
    data = copy.deepcopy(DEFAULT)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return data


def _template(outdir: Path, suffix: str) -> dict[str, Any]:
    return json.loads((outdir / f"{CONFIG.name}-fraud-{suffix}.template.json").read_text())


def _logical_id(template: dict[str, Any], resource_type: str, prefix: str) -> str:
    (found,) = [k for k, v in template["Resources"].items() if v["Type"] == resource_type and k.startswith(prefix)]
    return found


def _definition(template: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The state machine's definition with each reference replaced by a placeholder name."""
    (machine,) = [v for v in template["Resources"].values() if v["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
        else:
            target = part.get("Ref") or part["Fn::GetAtt"][0]
            text += next(placeholder for prefix, placeholder in names.items() if target.startswith(prefix))
    return dict(json.loads(text))


def _invoke_endpoint_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "sagemaker:InvokeEndpoint"
    ]


def test_stream_stack_lambda_batches_with_partial_failures_bisect_and_an_on_failure_queue(synthesized) -> None:
    template = _template(synthesized.outdir, "stream")
    assertions = Template.from_json(template)
    failed_batches = _logical_id(template, "AWS::SQS::Queue", "FailedBatches")
    assertions.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 100,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": FRAUD.stream.retry_attempts,
            "MaximumRecordAgeInSeconds": FRAUD.stream.max_record_age_seconds,
            "StartingPosition": "TRIM_HORIZON",
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [failed_batches, "Arn"]}}},
        },
    )
    assertions.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "fraud_stream_ingest.handler.lambda_handler",
            "ReservedConcurrentExecutions": FRAUD.stream.shard_count,
            "Environment": {"Variables": Match.object_like({"GIVE_UP_AFTER_SECONDS": "900"})},
        },
    )
    assertions.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"StateMachineType": "EXPRESS", "TracingConfiguration": {"Enabled": True}},
    )
    assertions.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"KeySchema": [{"AttributeName": "transaction_id", "KeyType": "HASH"}], "DeletionProtectionEnabled": True},
    )


def test_the_deployed_workflows_are_the_definitions_the_emulator_runs(synthesized) -> None:
    retry = RetryPolicy(timeout_seconds=FRAUD.scoring.timeout_seconds, max_attempts=FRAUD.scoring.max_attempts)
    stream = _definition(_template(synthesized.outdir, "stream"), {"Decisions": "TABLE", "Notifications": "TOPIC"})
    assert stream == stream_workflow_definition(
        endpoint_name=FRAUD.endpoint_name,
        table_name="TABLE",
        topic_arn="TOPIC",
        thresholds=thresholds(FRAUD),
        retry=retry,
    )
    names = {"Decisions": "TABLE", "Notifications": "TOPIC", "EnrichedBus": "BUS", "DeadLetters": "QUEUE"}
    events = _definition(_template(synthesized.outdir, "events"), names)
    assert events == event_workflow_definition(
        endpoint_name=FRAUD.endpoint_name,
        table_name="TABLE",
        topic_arn="TOPIC",
        enriched_bus_name="BUS",
        dead_letter_queue_url="QUEUE",
        thresholds=thresholds(FRAUD),
        retry=retry,
    )


def test_only_the_configured_endpoint_may_be_invoked(synthesized) -> None:
    for suffix in ("stream", "firehose", "events"):
        statements = _invoke_endpoint_statements(_template(synthesized.outdir, suffix))
        assert statements, suffix
        assert all(s["Resource"] == ENDPOINT_ARN for s in statements), statements


def test_firehose_stack_transforms_with_the_lambda_and_keeps_failures_under_the_error_prefix(synthesized) -> None:
    template = _template(synthesized.outdir, "firehose")
    assertions = Template.from_json(template)
    enrich = _logical_id(template, "AWS::Lambda::Function", "Enrich")
    assertions.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamEncryptionConfigurationInput": Match.object_like({"KeyType": "CUSTOMER_MANAGED_CMK"}),
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "ErrorOutputPrefix": ERROR_PREFIX,
                    "ProcessingConfiguration": {
                        "Enabled": True,
                        "Processors": [
                            Match.object_like(
                                {
                                    "Type": "Lambda",
                                    "Parameters": Match.array_with(
                                        [
                                            {
                                                "ParameterName": "LambdaArn",
                                                "ParameterValue": {"Fn::GetAtt": [enrich, "Arn"]},
                                            }
                                        ]
                                    ),
                                }
                            )
                        ],
                    },
                }
            ),
        },
    )
    assertions.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "fraud_firehose_enrich.handler.lambda_handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"INVESTIGATE_THRESHOLD": "0.15", "BLOCK_THRESHOLD": "0.6", "ENDPOINT_NAME": "fraud-detector-prod"}
                )
            },
        },
    )


def test_events_stack_rule_starts_the_workflow_with_retries_and_a_dead_letter_queue(synthesized) -> None:
    template = _template(synthesized.outdir, "events")
    assertions = Template.from_json(template)
    bus = _logical_id(template, "AWS::Events::EventBus", "TransactionBus")
    queue = _logical_id(template, "AWS::SQS::Queue", "DeadLetters")
    assertions.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": {"Ref": bus},
            "EventPattern": {"source": ["payments"], "detail-type": ["Transaction"]},
            "Targets": [
                Match.object_like(
                    {
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue, "Arn"]}},
                        "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                    }
                )
            ],
        },
    )
    assertions.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "EXPRESS",
            "LoggingConfiguration": Match.object_like({"IncludeExecutionData": True, "Level": "ALL"}),
        },
    )


def test_without_the_section_there_are_no_fraud_stacks() -> None:
    config = parse_config(with_change("fraud_detection", ...))
    assert add_fraud_detection_stacks(cdk.App(context=FEATURE_FLAGS), config) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("fraud_detection.thresholds.block", 0.1, "fraud_detection.thresholds: Value error, investigate (0.15)"),
        ("fraud_detection.stream.batch_size", 500, "fraud_detection.stream.batch_size"),
        ("fraud_detection.stream.give_up_after_seconds", 4000, "fraud_detection.stream: Value error, give_up_after"),
        ("fraud_detection.endpoint_name", "bad_name", "fraud_detection.endpoint_name"),
        ("fraud_detection.thresholds.investigate", 1.5, "fraud_detection.thresholds.investigate"),
    ],
)
def test_invalid_fraud_settings_name_their_key(path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_change(path, value))
    assert expected.replace("Value error, ", "") in str(error.value)


def test_the_fraud_lambdas_bundle_the_pins_the_tests_run() -> None:
    bundled = read_pins(ROOT / "lambdas" / "requirements-fraud.txt")
    tested = read_pins(ROOT / "requirements-dev.txt")
    assert {name: tested.get(name) for name in bundled} == bundled
