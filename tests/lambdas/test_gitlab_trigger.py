"""The GitLab trigger: model package approval events start the deploy pipeline."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lambda_test_support import GITLAB_URL, TOKEN, FakeLambdaContext, GitLabApi, connections_json

from gitlab_host import ConnectionNotAllowedError, GitLabConnection, RepositoryHostError, TokenSecretError
from gitlab_trigger.handler import lambda_handler
from gitlab_trigger.trigger import PoisonEventError, TriggerConfig, TriggerError, process_event

GROUP = "proj-p-123"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/3"
PIPELINE_URL = f"{GITLAB_URL}/team/deploy/-/pipelines/99"


def _event(status: str = "Approved", **detail: Any) -> dict[str, Any]:
    """A SageMaker Model Package State Change event as EventBridge delivers it (detail abridged)."""
    return {
        "version": "0",
        "id": "0f5c8a50-5c8e-7c4f-b6c5-1c2f3e4d5a6b",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [ARN],
        "detail": {
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": 3,
            "ModelPackageArn": ARN,
            "CreationTime": 1714564800000,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": status,
            "CertifyForMarketplace": False,
            **detail,
        },
    }


MISSING_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf"


def _config(secret_arn: str = MISSING_SECRET, **overrides: Any) -> TriggerConfig:
    """The trigger's configuration, allowing exactly the connection of `secret_arn`."""
    return TriggerConfig(
        **{
            "gitlab_server_url": GITLAB_URL,
            "token_secret_arn": secret_arn,
            "deploy_project_id": "1234",
            "model_package_group_name": GROUP,
            "connections": (GitLabConnection("team", GITLAB_URL, secret_arn),),
            **overrides,
        }
    )


@pytest.fixture
def config(token_secret_arn: str) -> TriggerConfig:
    return _config(token_secret_arn)


def _expect_pipeline(api: GitLabApi, *, ref: str = "main", status: int = 201) -> None:
    api.add(
        "POST",
        "/projects/1234/pipeline",
        status=status,
        body={
            "ref": ref,
            "variables": [
                {"key": "MODEL_PACKAGE_ARN", "value": ARN, "variable_type": "env_var"},
                {"key": "MODEL_PACKAGE_GROUP_NAME", "value": GROUP, "variable_type": "env_var"},
                {"key": "MODEL_PACKAGE_VERSION", "value": "3", "variable_type": "env_var"},
            ],
        },
        json={"id": 99, "web_url": PIPELINE_URL} if status < 400 else {"message": f"{status} error"},
    )


def test_approved_version_starts_the_deploy_pipeline(config: TriggerConfig, gitlab_api: GitLabApi) -> None:
    _expect_pipeline(gitlab_api)

    result = process_event(_event(), config=config)

    assert result == {
        "status": "started",
        "pipeline_id": 99,
        "pipeline_url": PIPELINE_URL,
        "model_package_arn": ARN,
        "model_package_version": 3,
        "model_approval_status": "Approved",
    }
    assert gitlab_api.calls == [("POST", "/api/v4/projects/1234/pipeline")]


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_other_statuses_are_ignored_without_calling_gitlab(gitlab_api: GitLabApi, status: str) -> None:
    # No token secret exists: reading it, or any GitLab call, would fail the test.
    config = _config()

    result = process_event(_event(status), config=config)

    assert result["status"] == "ignored"
    assert result["model_approval_status"] == status
    assert gitlab_api.calls == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e["detail"].pop("ModelPackageArn"), "detail.ModelPackageArn: Field required"),
        (lambda e: e["detail"].pop("ModelApprovalStatus"), "detail.ModelApprovalStatus: Field required"),
        (
            lambda e: e["detail"].update(ModelPackageVersion="three"),
            "detail.ModelPackageVersion: Input should be a valid integer",
        ),
        (lambda e: e.pop("detail"), "detail: Field required"),
        (lambda e: e.update({"detail-type": "SageMaker Model State Change"}), "detail-type: Input should be"),
        (lambda e: e.update(source="aws.events"), "source: Input should be 'aws.sagemaker'"),
    ],
)
def test_malformed_events_are_rejected_naming_the_field(gitlab_api: GitLabApi, mutate: Any, expected: str) -> None:
    event = copy.deepcopy(_event())
    mutate(event)

    with pytest.raises(PoisonEventError, match="Malformed SageMaker Model Package State Change event") as error:
        process_event(event, config=_config())

    assert expected in str(error.value)
    assert gitlab_api.calls == []


def test_an_event_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(PoisonEventError, match="Malformed"):
        process_event("not an event", config=_config())


def test_events_of_another_model_package_group_are_rejected(gitlab_api: GitLabApi) -> None:
    event = _event(ModelPackageGroupName="someone-else")

    with pytest.raises(PoisonEventError, match="group 'someone-else', but this trigger serves 'proj-p-123'"):
        process_event(event, config=_config())

    assert gitlab_api.calls == []


@pytest.mark.parametrize(("status", "text"), [(401, "HTTP 401"), (404, "HTTP 404"), (500, "HTTP 500")])
def test_gitlab_errors_raise_so_the_event_is_retried(
    config: TriggerConfig, gitlab_api: GitLabApi, all_logs: list[str], status: int, text: str
) -> None:
    _expect_pipeline(gitlab_api, status=status)

    with pytest.raises(RepositoryHostError) as error:
        process_event(_event(), config=config)

    assert text in str(error.value)
    assert "start a pipeline on 'main' in project 1234" in str(error.value)
    assert TOKEN not in str(error.value)
    assert not [line for line in all_logs if TOKEN in line]


def test_a_missing_token_secret_raises(gitlab_api: GitLabApi) -> None:
    with pytest.raises(TokenSecretError, match="secret:no-such-secret-AbCdEf"):
        process_event(_event(), config=_config())


def _environment(secret_arn: str, **extra: str) -> dict[str, str]:
    return {
        "GITLAB_SERVER_URL": GITLAB_URL,
        "GITLAB_TOKEN_SECRET_ARN": secret_arn,
        "GITLAB_DEPLOY_PROJECT_ID": "1234",
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "GITLAB_CONNECTIONS": connections_json(secret_arn),
        **extra,
    }


def test_config_from_environment() -> None:
    config = TriggerConfig.from_env(_environment("arn:s"))

    assert config == _config("arn:s")
    assert TriggerConfig.from_env(_environment("arn:s", DEPLOY_BRANCH="release")).deploy_branch == "release"


def test_config_names_missing_environment_variables() -> None:
    with pytest.raises(TriggerError, match="GITLAB_DEPLOY_PROJECT_ID, MODEL_PACKAGE_GROUP_NAME"):
        TriggerConfig.from_env({"GITLAB_SERVER_URL": GITLAB_URL, "GITLAB_TOKEN_SECRET_ARN": "s"})


def test_lambda_handler_reads_its_configuration_from_the_environment(
    token_secret_arn: str, gitlab_api: GitLabApi, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    for name, value in _environment(token_secret_arn, DEPLOY_BRANCH="release").items():
        monkeypatch.setenv(name, value)
    _expect_pipeline(gitlab_api, ref="release")

    assert lambda_handler(_event(), lambda_context)["pipeline_id"] == 99


def test_a_server_that_is_not_the_secrets_is_refused_before_the_secret_is_read(
    token_secret_arn: str, gitlab_api: GitLabApi
) -> None:
    config = _config(token_secret_arn, gitlab_server_url="https://collector.attacker.example")

    with pytest.raises(ConnectionNotAllowedError, match="'https://collector.attacker.example' is not the one"):
        process_event(_event(), config=config)

    assert gitlab_api.calls == []
