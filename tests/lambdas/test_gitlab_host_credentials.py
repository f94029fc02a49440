"""Loading the GitLab token from Secrets Manager (moto)."""

from __future__ import annotations

import json
import traceback

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_test_support import GITLAB_URL, REGION, TOKEN, GitLabApi, project_json

from gitlab_host import (
    TOKEN_JSON_KEY,
    GitLabConnection,
    GitLabHost,
    RepositoryHostError,
    TokenSecretError,
    load_token,
)

NAME = "team/gitlab"


def _store(**secret: object) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name=NAME, **secret)


def test_plain_text_secret_is_the_token(aws: None) -> None:
    _store(SecretString=f"  {TOKEN}\n")

    assert load_token(NAME) == TOKEN


def test_json_secret_holds_the_token_under_its_documented_key(aws: None) -> None:
    _store(SecretString=json.dumps({TOKEN_JSON_KEY: TOKEN, "note": "rotated monthly"}))

    assert TOKEN_JSON_KEY == "token"
    assert load_token(NAME) == TOKEN


def test_missing_secret_is_named(aws: None) -> None:
    with pytest.raises(TokenSecretError, match=f"secret '{NAME}' .* was not found"):
        load_token(NAME)


@pytest.mark.parametrize(
    ("secret_string", "expected"),
    [
        (json.dumps({"gitlab_token": TOKEN}), "no non-empty string under the key 'token'"),
        (json.dumps({"token": ""}), "no non-empty string under the key 'token'"),
        ("{" + TOKEN, "not valid JSON"),
        ("   ", "is empty"),
    ],
)
def test_unusable_secret_values_are_named_without_echoing_them(aws: None, secret_string: str, expected: str) -> None:
    _store(SecretString=secret_string)

    with pytest.raises(TokenSecretError) as error:
        load_token(NAME)

    assert f"'{NAME}'" in str(error.value)
    assert expected in str(error.value)
    assert TOKEN not in "".join(traceback.format_exception(error.value))
    assert TOKEN not in _attributes_of_reported_chain(error.value)


def _attributes_of_reported_chain(exc: BaseException | None) -> str:
    """Attributes of every exception a traceback would show (a JSON decode error keeps the text)."""
    texts = []
    while exc is not None:
        texts.append(repr(vars(exc)))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "".join(texts)


def test_binary_secret_is_rejected(aws: None) -> None:
    _store(SecretBinary=TOKEN.encode())

    with pytest.raises(TokenSecretError, match="binary secrets are not supported"):
        load_token(NAME)


def test_access_denied_says_which_permission_is_missing() -> None:
    class DeniedClient:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")

    with pytest.raises(TokenSecretError, match=f"'{NAME}'.*secretsmanager:GetSecretValue"):
        load_token(NAME, client=DeniedClient())


def test_empty_secret_name_is_rejected() -> None:
    with pytest.raises(TokenSecretError, match="No Secrets Manager secret name"):
        load_token("")


def test_from_connection_sends_the_stored_token_and_names_the_secret_on_401(gitlab_api: GitLabApi) -> None:
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=NAME, SecretString=json.dumps({"token": TOKEN})
    )["ARN"]
    gitlab_api.add("GET", "/projects/7", json=project_json(7, "team/build"))  # header-matched on TOKEN
    gitlab_api.add("GET", "/projects/8", status=401, json={"message": "401 Unauthorized"})
    host = GitLabHost.from_connection(GitLabConnection("team", GITLAB_URL, arn))

    host.get_project(7)
    with pytest.raises(RepositoryHostError) as error:
        host.get_project(8)

    assert f"The token from Secrets Manager secret '{arn}' is invalid, expired or revoked" in str(error.value)
