"""Check that a resource or trust policy grants only the accounts (or roles) it is meant to.

Used by the multi-account tests on the synthesized templates and on the roles deployed into the
emulated accounts, and usable on any policy fetched from AWS (`get-bucket-policy`,
`get-key-policy`, `get-role`): every `Allow` statement's AWS principals must belong to the allowed
accounts, and an outsider is named in the error. These checks read who a policy names; whether a
request is allowed (conditions included) is decided by `tooling.iam_simulator`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


class PolicyGrantError(ValueError):
    """A policy lets in a principal outside the allowed set; the message names it."""


def _statements(policy: dict[str, Any] | str) -> list[dict[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def aws_principals(policy: dict[str, Any] | str) -> list[str]:
    """AWS principals (account IDs or ARNs, `*` kept) of the policy's Allow statements."""
    principals = []
    for statement in _statements(policy):
        if statement.get("Effect") != "Allow" or "Principal" not in statement:
            continue
        principal = statement["Principal"]
        if principal == "*":
            principals.append("*")
        elif isinstance(principal, dict) and "AWS" in principal:
            principals.extend(str(item) for item in _as_list(principal["AWS"]))
    return principals


def principal_account(principal: str) -> str:
    """Account ID of an AWS principal (`123456789012`, a root/role/user/assumed-role ARN); `*` stays."""
    if principal == "*" or re.fullmatch(r"\d{12}", principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    if not match:
        raise PolicyGrantError(f"cannot tell the account of principal {principal!r}")
    return match.group(1)


def check_grants_only(policy: dict[str, Any] | str, allowed_accounts: Iterable[str], *, what: str = "policy") -> None:
    """Raise `PolicyGrantError` naming every account outside `allowed_accounts` that an Allow grants."""
    allowed = set(allowed_accounts)
    outsiders = sorted({principal_account(p) for p in aws_principals(policy)} - allowed)
    if outsiders:
        raise PolicyGrantError(
            f"{what} grants account(s) {', '.join(outsiders)} outside the allowed {', '.join(sorted(allowed))}"
        )


def check_trusts_only(
    trust_policy: dict[str, Any] | str, allowed_principals: Iterable[str], *, what: str = "trust policy"
) -> None:
    """Raise `PolicyGrantError` unless the role trusts exactly principals from `allowed_principals`.

    A trust policy that names an account root (`arn:aws:iam::<id>:root` or the bare ID) would let
    every principal of that account assume the role, so only the exact ARNs listed are accepted.
    """
    allowed = set(allowed_principals)
    outsiders = sorted(set(aws_principals(trust_policy)) - allowed)
    if outsiders:
        accounts = sorted({principal_account(p) for p in outsiders})
        raise PolicyGrantError(
            f"{what} trusts {', '.join(outsiders)} (account(s) {', '.join(accounts)}) "
            f"beyond {', '.join(sorted(allowed))}"
        )
