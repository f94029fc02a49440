"""A Python Lambda that calls the GitLab API with the token kept in Secrets Manager.

Both GitLab Lambdas (seed-code check-in, trigger) are built here, so they share the runtime,
Docker-free bundling, log retention and the one secret they may read.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.lambda_bundling import LAMBDA_RUNTIME, python_lambda_code


def gitlab_api_function(
    scope: Construct, *, package: str, handler: str, description: str, token_secret_name: str, **function_options: Any
) -> lambda_.Function:
    """`Logs` and `Function` in `scope`: lambdas/<package> plus gitlab_host, allowed to read the token secret.

    `function_options` are further `lambda_.Function` properties (timeout, environment, ...).
    """
    stack = cdk.Stack.of(scope)
    log_group = logs.LogGroup(scope, "Logs", retention=logs.RetentionDays.ONE_YEAR)
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=LAMBDA_RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler=f"{package}.handler.{handler}",
        code=python_lambda_code(packages=[package, "gitlab_host"]),
        log_group=log_group,
        **function_options,
    )
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"],
            # Secrets Manager appends six random characters to every secret ARN.
            resources=[
                stack.format_arn(
                    service="secretsmanager",
                    resource="secret",
                    resource_name=f"{token_secret_name}-??????",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    NagSuppressions.add_resource_suppressions(
        function,
        [
            {
                "id": "AwsSolutions-IAM4",
                "reason": (
                    "AWSLambdaBasicExecutionRole is the AWS-maintained minimum for writing the function's own logs."
                ),
                "applies_to": ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
            }
        ],
        apply_to_children=True,
    )
    return function
