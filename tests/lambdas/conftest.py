"""Fixtures for the GitLab Lambdas: moto for AWS, ``responses`` for the GitLab REST API.

GitLab requests are matched on method, exact path, JSON body and the ``PRIVATE-TOKEN``
header; an unregistered request fails (responses raises ConnectionError, which the client
turns into a RepositoryHostError), so every test also proves which calls were *not* made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import gitlab.utils
import pytest
import responses
from lambda_test_support import REGION, SECRET_NAME, TOKEN, FakeLambdaContext, GitLabApi
from moto import mock_aws


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region, so nothing can reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture(autouse=True)
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """python-gitlab's back-off sleeps, recorded instead of slept (keeps retry tests fast)."""
    sleeps: list[float] = []
    # Only python-gitlab's view of `time` is replaced, not the module everyone shares.
    monkeypatch.setattr(gitlab.utils, "time", SimpleNamespace(sleep=sleeps.append, time=time.time))
    return sleeps


@pytest.fixture
def aws() -> Iterator[None]:
    """Moto's in-process AWS."""
    with mock_aws():
        yield


@pytest.fixture
def token_secret_arn(aws: None) -> str:
    """The GitLab token stored as a plain-text secret; returns the secret's ARN."""
    return str(
        boto3.client("secretsmanager", region_name=REGION).create_secret(Name=SECRET_NAME, SecretString=TOKEN)["ARN"]
    )


@pytest.fixture
def gitlab_api(aws: None) -> Iterator[GitLabApi]:
    """The mocked GitLab API; started after moto so that it, not moto, sees ``requests`` calls."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield GitLabApi(mock)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A stand-in for the Lambda context object."""
    return FakeLambdaContext()


@pytest.fixture
def all_logs() -> Iterator[list[str]]:
    """Every log record (message, extras, traceback) of our code, python-gitlab and HTTP, at DEBUG."""
    texts: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            texts.append(self.format(record))
            texts.append(repr(record.__dict__))

    handler = _Collect(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    # Not botocore: at DEBUG it logs raw API responses, GetSecretValue's included.
    names = ["seed-code-checkin", "gitlab-trigger", "gitlab_host", "gitlab", "urllib3", "requests"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield texts
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
