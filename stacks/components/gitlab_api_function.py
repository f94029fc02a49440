"""A Python Lambda that calls the GitLab API with a token kept in Secrets Manager.

Both GitLab Lambdas (seed-code check-in, trigger) are built here, so they share the runtime,
Docker-free bundling, encrypted logs and environment, and the secrets they may read: exactly the
token secrets of the configured GitLab connections, named by literal ARN. The function gets the
allowed connections (`GITLAB_CONNECTIONS`) and their CA bundles from the configuration, and its
code refuses to send a token anywhere but the server configured for its secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.gitlab_connections import lambda_ca_files, lambda_connections_json
from stacks.components.lambda_bundling import LAMBDA_RUNTIME, python_lambda_code
from stacks.config import GitLabConnection

# Reserved concurrency would be carved out of the account's pool once per project, and accounts
# start with a limit of 10 that no reservation may go below: any value would fail launches there.
CONCURRENCY_REASON = (
    "Reserved concurrency would be taken from the account pool for every provisioned project; new accounts "
    "have a limit of 10 with 10 unreserved, so any reservation fails the launch. It runs once per launch or "
    "approval."
)


def gitlab_api_function(
    scope: Construct,
    *,
    package: str,
    handler: str,
    description: str,
    connections: Sequence[GitLabConnection],
    key: kms.IKey,
    environment: dict[str, str] | None = None,
    **function_options: Any,
) -> lambda_.Function:
    """`Logs` and `Function` in `scope`: lambdas/<package> plus gitlab_host, allowed to read the
    configured token secrets; logs and environment encrypted with `key`.

    `function_options` are further `lambda_.Function` properties (timeout, memory, ...).
    """
    log_group = logs.LogGroup(scope, "Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key)
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=LAMBDA_RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler=f"{package}.handler.{handler}",
        code=python_lambda_code(packages=[package, "gitlab_host"], extra_files=lambda_ca_files(connections)),
        log_group=log_group,
        environment={**(environment or {}), "GITLAB_CONNECTIONS": lambda_connections_json(connections)},
        environment_encryption=key,
        **function_options,
    )
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadConfiguredGitLabTokens",
            actions=["secretsmanager:GetSecretValue"],
            resources=sorted({connection.token_secret_arn for connection in connections}),
        )
    )
    skip_checks(function, {"CKV_AWS_115": CONCURRENCY_REASON})
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
