"""Deploy jobs reach other accounts through one role or a chain of roles."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from .conftest import load_seed_module

aws_session = load_seed_module("aws_session.py")

PIPELINE_ROLE = "arn:aws:iam::123456789012:role/mlops-gitlab-multi-account-pipeline"
TARGET_ROLE = "arn:aws:iam::222222222222:role/sagemaker-role-mlops"


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        yield


def account_of(session: boto3.session.Session) -> str:
    return session.client("sts").get_caller_identity()["Account"]


def test_no_role_keeps_the_jobs_own_credentials(aws) -> None:
    assert account_of(aws_session.session_for("", "us-east-1")) == "123456789012"


def test_a_chain_is_assumed_in_order_and_ends_in_the_target_account(aws) -> None:
    session = aws_session.session_for(f"{PIPELINE_ROLE}, {TARGET_ROLE}", "us-east-1")
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == "222222222222"
    assert "sagemaker-role-mlops/gitlab-model-deploy" in identity["Arn"]


def test_a_malformed_arn_is_named() -> None:
    with pytest.raises(ValueError, match=r"not an IAM role ARN: 'arn:aws:iam::2222:role/x'"):
        aws_session.role_chain(f"{PIPELINE_ROLE},arn:aws:iam::2222:role/x")
    assert aws_session.role_chain(" , ") == []
