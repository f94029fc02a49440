"""Load the GitLab access token from AWS Secrets Manager.

The secret's ``SecretString`` is either the token itself (``glpat-...``) or a JSON object
holding it under ``TOKEN_JSON_KEY`` (``{"token": "glpat-..."}``), which leaves room for other
keys in the same secret. The token needs the ``api`` scope, and its user the Maintainer (or
Owner) role where the projects are created.

Error messages name the secret and never include its value.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

#: Key of the token when the secret is a JSON object.
TOKEN_JSON_KEY = "token"

# A hung endpoint must not use up the Lambda's time: fail in seconds, with a few retries.
_BOTO_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})


class TokenSecretError(Exception):
    """The GitLab token could not be read from its secret."""


def load_token(secret_name: str, *, client: Any | None = None) -> str:
    """Return the GitLab token stored in the Secrets Manager secret ``secret_name``.

    ``client`` is a Secrets Manager client (default: a new one for the Lambda's region).
    Raises ``TokenSecretError`` naming the secret when it is missing, unreadable, empty, or a
    JSON object without a non-empty string under ``TOKEN_JSON_KEY``.
    """
    if not secret_name:
        raise TokenSecretError("No Secrets Manager secret name was given for the GitLab token.")
    secrets = client or boto3.client("secretsmanager", config=_BOTO_CONFIG)
    try:
        response = secrets.get_secret_value(SecretId=secret_name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        if code == "ResourceNotFoundException":
            raise TokenSecretError(
                f"Secrets Manager secret '{secret_name}' holding the GitLab token was not found in "
                "this account and region: create it (the token as plain text, or JSON "
                f'{{"{TOKEN_JSON_KEY}": "<token>"}}) or fix the secret name.'
            ) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise TokenSecretError(
                f"Access denied reading Secrets Manager secret '{secret_name}': the Lambda's role "
                "needs secretsmanager:GetSecretValue on it (and kms:Decrypt on its KMS key)."
            ) from None
        raise TokenSecretError(f"Could not read Secrets Manager secret '{secret_name}' ({code}).") from None
    except BotoCoreError as exc:
        raise TokenSecretError(
            f"Could not reach Secrets Manager to read secret '{secret_name}': {type(exc).__name__}."
        ) from None

    secret = response.get("SecretString")
    if secret is None:
        raise TokenSecretError(
            f"Secrets Manager secret '{secret_name}' has no SecretString; binary secrets are not "
            "supported: store the GitLab token as text."
        )
    return _token_from_secret_string(secret, secret_name=secret_name)


def _token_from_secret_string(secret: str, *, secret_name: str) -> str:
    """Extract the token from a plain-text or JSON ``SecretString``."""
    secret = secret.strip()
    if not secret.startswith("{"):
        if not secret:
            raise TokenSecretError(f"Secrets Manager secret '{secret_name}' is empty.")
        return secret
    try:
        document = json.loads(secret)
    except ValueError:
        # `from None`: the decode error keeps the secret text (its `doc`) for whoever inspects it.
        raise TokenSecretError(
            f"Secrets Manager secret '{secret_name}' starts with '{{' but is not valid JSON: store "
            f'either the plain token or {{"{TOKEN_JSON_KEY}": "<token>"}}.'
        ) from None
    token = document.get(TOKEN_JSON_KEY) if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise TokenSecretError(
            f"Secrets Manager secret '{secret_name}' is JSON but has no non-empty string under the "
            f"key '{TOKEN_JSON_KEY}'."
        )
    return token.strip()
