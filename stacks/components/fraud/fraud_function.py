"""A fraud Lambda: `lambdas/<package>` with `fraud_scoring`, encrypted logs and environment, tracing."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.lambda_bundling import LAMBDA_RUNTIME, LAMBDAS_DIR, python_lambda_code

FRAUD_REQUIREMENTS = LAMBDAS_DIR / "requirements-fraud.txt"


def fraud_function(
    scope: Construct,
    construct_id: str,
    *,
    package: str,
    description: str,
    key: kms.IKey,
    environment: dict[str, str],
    reserved_concurrency: int,
    failure_handling: str,
    **function_options: Any,
) -> lambda_.Function:
    """The function and its log group; `failure_handling` says where its failed records go (checkov)."""
    log_group = logs.LogGroup(scope, f"{construct_id}Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key)
    function = lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=LAMBDA_RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler=f"{package}.handler.lambda_handler",
        code=python_lambda_code(packages=[package, "fraud_scoring"], requirements=FRAUD_REQUIREMENTS),
        log_group=log_group,
        environment={"POWERTOOLS_SERVICE_NAME": package.replace("_", "-"), **environment},
        environment_encryption=key,
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        **function_options,
    )
    NagSuppressions.add_resource_suppressions(
        function,
        [
            {
                "id": "AwsSolutions-IAM4",
                "reason": "AWSLambdaBasicExecutionRole is the AWS-maintained minimum for writing the function's logs.",
                "applies_to": ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
            },
            {
                "id": "AwsSolutions-IAM5",
                "reason": "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions.",
                "applies_to": ["Resource::*"],
            },
        ],
        apply_to_children=True,
    )
    skip_checks(
        function,
        {
            "CKV_AWS_116": "Not invoked asynchronously, so a Lambda DLQ would never receive anything: "
            f"{failure_handling}",
            "CKV_AWS_117": "Calls only AWS service APIs (SageMaker runtime, Step Functions, SQS); no VPC resource "
            "to reach.",
        },
    )
    cdk.Tags.of(function).add("component", package)
    return function
