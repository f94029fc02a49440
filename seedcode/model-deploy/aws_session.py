"""AWS sessions of the deploy jobs: the job's own credentials, or a chain of assumed roles.

A deploy into another account names its role in `DEPLOY_ROLE_ARN_<STAGE>`. When the target
account's role trusts only an intermediate role (the platform's multi-account pipeline role),
the variable holds both ARNs, comma-separated, and they are assumed in order.
"""

from __future__ import annotations

import re

import boto3

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


def role_chain(role_arns: str | None) -> list[str]:
    """The role ARNs of a comma-separated chain, validated; empty for no role."""
    chain = [arn.strip() for arn in (role_arns or "").split(",") if arn.strip()]
    for arn in chain:
        if not _ROLE_ARN.match(arn):
            raise ValueError(f"not an IAM role ARN: {arn!r} (expected arn:aws:iam::<account>:role/<name>)")
    return chain


def session_for(
    role_arns: str | None,
    region: str | None,
    *,
    session_name: str = "gitlab-model-deploy",
    base: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
) -> boto3.session.Session:
    """A session with this job's credentials (or `base`'s), or with the last role of the chain assumed in order.

    `endpoint_url` sends the STS calls to another endpoint (the platform's local emulator uses it).
    """
    session = base or boto3.session.Session(region_name=region)
    for arn in role_chain(role_arns):
        sts = session.client("sts", endpoint_url=endpoint_url)
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=session_name)["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
    return session
