"""The GitLab connections the platform configuration allows, and the check every token passes.

A token may be sent only to the server configured for its secret. The Lambdas get the allowed
set from the platform configuration (environment variable ``GITLAB_CONNECTIONS``, literal in the
template, never a launch parameter) and resolve the server URL and secret of each request against
it *before* the secret is read, so a request naming an unrelated secret or a foreign server
fails without reading or sending anything.

``GITLAB_CONNECTIONS`` is a JSON list of objects ``{"name", "server_url", "token_secret_arn",
"ca_bundle"}``; ``ca_bundle`` is empty or the path of a PEM file, relative to the Lambda's code
root (the platform bundles it there) or absolute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_CONNECTIONS = "GITLAB_CONNECTIONS"
# The directory holding the Lambda's packages (``LAMBDA_TASK_ROOT`` on AWS).
CODE_ROOT = Path(__file__).resolve().parents[1]


class ConnectionNotAllowedError(Exception):
    """A server URL or token secret outside the configured connections; nothing was read or sent."""


@dataclass(frozen=True)
class GitLabConnection:
    """A configured GitLab server and the secret whose token may be sent to it."""

    name: str
    server_url: str
    token_secret_arn: str
    ca_bundle: Path | None = None

    @property
    def ssl_verify(self) -> str | bool:
        """What `requests` verifies the server's certificate with: the CA bundle, or the public CAs."""
        return str(self.ca_bundle) if self.ca_bundle is not None else True


def _normalized_url(url: str) -> str:
    return url.strip().rstrip("/")


def parse_connections(text: str, *, code_root: Path = CODE_ROOT) -> tuple[GitLabConnection, ...]:
    """Parse the ``GITLAB_CONNECTIONS`` JSON; raise ``ConnectionNotAllowedError`` when it is unusable."""
    try:
        items: Any = json.loads(text)
    except ValueError:
        raise ConnectionNotAllowedError(f"{ENV_CONNECTIONS} is not valid JSON: the Lambda is misconfigured.") from None
    if not isinstance(items, list) or not items:
        raise ConnectionNotAllowedError(f"{ENV_CONNECTIONS} must be a non-empty JSON list of connections.")
    connections = []
    for index, item in enumerate(items):
        fields = ("name", "server_url", "token_secret_arn")
        if not isinstance(item, dict) or not all(isinstance(item.get(key), str) and item[key] for key in fields):
            raise ConnectionNotAllowedError(f"{ENV_CONNECTIONS}[{index}] must have name, server_url, token_secret_arn.")
        ca_bundle = item.get("ca_bundle") or ""
        connections.append(
            GitLabConnection(
                name=item["name"],
                server_url=_normalized_url(item["server_url"]),
                token_secret_arn=item["token_secret_arn"],
                ca_bundle=(code_root / ca_bundle) if ca_bundle else None,
            )
        )
    return tuple(connections)


def connections_from_env(environ: Mapping[str, str] | None = None) -> tuple[GitLabConnection, ...]:
    """The allowed connections from the environment (default: the process environment)."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_CONNECTIONS, "")
    if not text.strip():
        raise ConnectionNotAllowedError(f"The Lambda has no {ENV_CONNECTIONS}: no GitLab server is allowed.")
    return parse_connections(text)


def resolve_connection(
    allowed: Sequence[GitLabConnection], *, server_url: str, token_secret_arn: str
) -> GitLabConnection:
    """The configured connection of ``token_secret_arn``, provided ``server_url`` is its server.

    Raises ``ConnectionNotAllowedError`` naming the refused value and what is configured.
    """
    by_secret = {connection.token_secret_arn: connection for connection in allowed}
    connection = by_secret.get(token_secret_arn)
    if connection is None:
        raise ConnectionNotAllowedError(
            f"Token secret '{token_secret_arn}' is not one of the configured GitLab connections "
            f"({', '.join(c.name for c in allowed)}); it was not read."
        )
    if _normalized_url(server_url) != connection.server_url:
        raise ConnectionNotAllowedError(
            f"GitLab server URL '{server_url}' is not the one configured for token secret "
            f"'{token_secret_arn}' (connection '{connection.name}': {connection.server_url}); "
            "the token was not read or sent."
        )
    return connection
