"""The configured GitLab connections, as a product template offers them and as the Lambdas check them.

The launcher picks a connection by name (a parameter with AllowedValues); everything else about
it (server URL, token secret ARN, namespace, group ID) comes from a mapping written from the
platform configuration. The Lambdas get the whole allowed set as a literal environment variable
plus the CA bundles in their code, and refuse any URL that is not the one of its secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk

from stacks.config import GitLabConnection

PARAMETER = "GitLabConnection"
MAPPING = "GitLabConnections"
# Where the CA bundles sit in the Lambda bundle (relative to its code root).
CA_DIRECTORY = "gitlab_ca"


@dataclass(frozen=True)
class ConnectionChoice:
    """The launch parameter and the chosen connection's values (CloudFormation expressions)."""

    parameter: cdk.CfnParameter
    server_url: str
    token_secret_arn: str
    namespace: str
    group_id: str


def connection_choice(stack: cdk.Stack, connections: Sequence[GitLabConnection]) -> ConnectionChoice:
    """The `GitLabConnection` parameter (the configured names only) and its `GitLabConnections` mapping."""
    parameter = cdk.CfnParameter(
        stack,
        PARAMETER,
        type="String",
        description="GitLab connection (server, group and token) of the repositories, from the platform configuration",
        allowed_values=[connection.name for connection in connections],
        default=connections[0].name,
    )
    mapping = cdk.CfnMapping(
        stack,
        MAPPING,
        mapping={
            connection.name: {
                "ServerUrl": connection.server_url,
                "TokenSecretArn": connection.token_secret_arn,
                "Namespace": connection.namespace,
                # Mapping values cannot be empty: "-" stands for "the token owner's namespace".
                "GroupId": connection.group_id or "-",
            }
            for connection in connections
        },
    )

    def value(key: str) -> str:
        return mapping.find_in_map(parameter.value_as_string, key)

    group_id = cdk.Fn.join("", cdk.Fn.split("-", value("GroupId")))
    return ConnectionChoice(
        parameter=parameter,
        server_url=value("ServerUrl"),
        token_secret_arn=value("TokenSecretArn"),
        namespace=value("Namespace"),
        group_id=group_id,
    )


def ca_bundle_file(connection: GitLabConnection) -> str:
    """Path of the connection's CA bundle inside the Lambda bundle ("" without one)."""
    return f"{CA_DIRECTORY}/{connection.name}.pem" if connection.ca_bundle else ""


def lambda_connections_json(connections: Sequence[GitLabConnection]) -> str:
    """The `GITLAB_CONNECTIONS` value: every configured (server URL, secret ARN, CA bundle)."""
    return json.dumps(
        [
            {
                "name": connection.name,
                "server_url": connection.server_url,
                "token_secret_arn": connection.token_secret_arn,
                "ca_bundle": ca_bundle_file(connection),
            }
            for connection in connections
        ],
        separators=(",", ":"),
    )


def lambda_ca_files(connections: Sequence[GitLabConnection]) -> dict[str, bytes]:
    """The configured CA bundles, by their path inside the Lambda bundle."""
    return {
        ca_bundle_file(connection): Path(connection.ca_bundle).read_bytes()
        for connection in connections
        if connection.ca_bundle
    }
