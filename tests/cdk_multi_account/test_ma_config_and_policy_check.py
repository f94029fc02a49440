"""The `multi_account` configuration section and the account policy checker."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, parse_config
from tooling.account_policy_check import (
    PolicyGrantError,
    aws_principals,
    check_grants_only,
    check_trusts_only,
    principal_account,
)

pytestmark = pytest.mark.xdist_group("cdk")

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "default.yaml").read_text())


def _with(**changes: object) -> dict:
    data = copy.deepcopy(DEFAULT)
    data["multi_account"].update(changes)
    return data


def test_default_multi_account_section() -> None:
    multi = parse_config(DEFAULT).multi_account
    assert multi.target_role_name == "sagemaker-role-mlops"
    assert multi.execution_role_name == "sagemaker-execution-role-mlops"
    assert multi.target_accounts == ("333333333333", "222222222222")


def test_multi_account_is_optional() -> None:
    data = copy.deepcopy(DEFAULT)
    del data["multi_account"]
    assert parse_config(data).multi_account is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"target_role_suffix": "Staging"},
            "multi_account.target_role_suffix: String should match pattern '^[a-z]{1,10}$'",
        ),
        ({"target_role_suffix": "abcdefghijk"}, "multi_account.target_role_suffix: String should match pattern"),
        ({"staging_account": "1234"}, "multi_account.staging_account: String should match pattern"),
        ({"prod_ou_id": "r-abcd"}, "multi_account.prod_ou_id: String should match pattern"),
        ({"prod_account": "333333333333"}, "staging_account and prod_account must differ"),
        ({"prod_ou_id": "ou-abcd-11111111"}, "staging_ou_id and prod_ou_id must differ"),
        (
            {"staging_account": "111111111111"},
            "multi_account: staging_account and prod_account must differ from account",
        ),
        ({"delegated_admn": True}, "multi_account.delegated_admn: unknown key"),
    ],
)
def test_invalid_multi_account_values_name_their_key(changes: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_with(**changes), source="config/test.yaml")
    assert expected in str(error.value)
    assert str(error.value).startswith("config/test.yaml: ")


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::222222222222:root", "333333333333"]},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        },
    ],
}


def test_grants_only_the_configured_accounts() -> None:
    check_grants_only(POLICY, ["222222222222", "333333333333"])
    assert aws_principals(POLICY) == ["arn:aws:iam::222222222222:root", "333333333333"]


def test_an_outsider_account_is_named() -> None:
    widened = copy.deepcopy(POLICY)
    widened["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444444444444:role/x"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    with pytest.raises(PolicyGrantError, match="key policy grants account\\(s\\) 444444444444 outside"):
        check_grants_only(widened, ["222222222222", "333333333333"], what="key policy")


def test_a_public_grant_is_an_outsider() -> None:
    public = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}
    with pytest.raises(PolicyGrantError, match=r"\*"):
        check_grants_only(public, ["222222222222"])


def test_trust_policy_checks() -> None:
    pipeline = "arn:aws:iam::111111111111:role/mlops-gitlab-multi-account-pipeline"
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": pipeline}}]}
    check_trusts_only(trust, [pipeline])
    root = {
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}}
        ]
    }
    with pytest.raises(PolicyGrantError, match="trusts arn:aws:iam::111111111111:root"):
        check_trusts_only(root, [pipeline])
    assert principal_account("arn:aws:sts::222222222222:assumed-role/r/s") == "222222222222"
    with pytest.raises(PolicyGrantError, match="cannot tell the account"):
        principal_account("not-an-arn")
