"""The trigger starts at most one deploy pipeline per approval, and fails fast on poison.

Idempotency runs on Powertools' DynamoDB persistence against moto's DynamoDB; GitLab is
``responses``; the dead-letter queue is moto's SQS.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import boto3
import pytest
import responses
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from lambda_test_support import GITLAB_URL, REGION, TOKEN, FakeLambdaContext, GitLabApi, connections_json

from gitlab_host import GitLabConnection, RepositoryHostError
from gitlab_trigger.handler import lambda_handler
from gitlab_trigger.trigger import TriggerConfig, process_event

GROUP = "proj-p-123"
# In-progress records expire with the invocation (Lambda's remaining time).
CONTEXT = FakeLambdaContext()
PIPELINES = f"{GITLAB_URL}/api/v4/projects/1234/pipeline"


def _event(version: int = 3, status: str = "Approved", **detail: Any) -> dict[str, Any]:
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/{version}"
    return {
        "version": "0",
        "id": f"event-{version}-{status}",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
            **detail,
        },
    }


@pytest.fixture
def table(aws: None) -> str:
    name = "approvals"
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def config(token_secret_arn: str, table: str) -> TriggerConfig:
    return TriggerConfig(
        gitlab_server_url=GITLAB_URL,
        token_secret_arn=token_secret_arn,
        deploy_project_id="1234",
        model_package_group_name=GROUP,
        idempotency_table=table,
        connections=(GitLabConnection("team", GITLAB_URL, token_secret_arn),),
    )


@pytest.fixture
def persistence(table: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table)


def _pipelines(api: GitLabApi, *, status: int = 201) -> responses.BaseResponse:
    """Every pipeline start answers `status`; returns the registration, which counts the calls."""
    return api.add(
        "POST",
        "/projects/1234/pipeline",
        status=status,
        json={"id": 99, "web_url": f"{GITLAB_URL}/team/deploy/-/pipelines/99"} if status < 400 else {"message": "x"},
    )


def _started_versions(api: GitLabApi) -> list[str]:
    return [
        next(v["value"] for v in json.loads(call.request.body)["variables"] if v["key"] == "MODEL_PACKAGE_VERSION")
        for call in api.mock.calls
        if call.request.url == PIPELINES and call.response is not None and call.response.status_code == 201
    ]


def test_the_same_event_three_times_starts_one_pipeline(config, persistence, gitlab_api: GitLabApi) -> None:
    _pipelines(gitlab_api)

    results = [
        process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT) for _ in range(3)
    ]

    assert _started_versions(gitlab_api) == ["3"]
    assert results[0]["status"] == "started" and results[1] == results[0] == results[2]


def test_a_lifecycle_stage_change_of_a_deployed_version_starts_nothing(config, persistence, gitlab_api) -> None:
    """SageMaker sends the same state-change event again when the version's lifecycle stage changes."""
    _pipelines(gitlab_api)
    process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT)

    staged = _event(ModelLifeCycle={"Stage": "Production", "StageStatus": "Approved"}, LastModifiedTime=1714600000)
    process_event(staged, config=config, persistence=persistence, lambda_context=CONTEXT)

    assert _started_versions(gitlab_api) == ["3"]


def test_another_version_starts_a_second_pipeline(config, persistence, gitlab_api: GitLabApi) -> None:
    _pipelines(gitlab_api)

    process_event(_event(3), config=config, persistence=persistence, lambda_context=CONTEXT)
    process_event(_event(4), config=config, persistence=persistence, lambda_context=CONTEXT)

    assert _started_versions(gitlab_api) == ["3", "4"]


def test_two_concurrent_duplicates_start_one_pipeline(config, persistence, gitlab_api: GitLabApi) -> None:
    """The second copy arrives while the first is still starting the pipeline: it fails (and is
    retried by Lambda later, when the first one's result is recorded) instead of starting another."""
    first_is_starting, second_is_done = threading.Event(), threading.Event()

    def slow_gitlab(request: Any) -> tuple[int, dict[str, str], str]:
        first_is_starting.set()
        assert second_is_done.wait(timeout=10), "the duplicate never ran"
        return 201, {"Content-Type": "application/json"}, json.dumps({"id": 99, "web_url": "u"})

    gitlab_api.mock.add_callback(responses.POST, PIPELINES, callback=slow_gitlab)
    outcomes: dict[str, Any] = {}

    def deliver(name: str) -> None:
        try:
            outcomes[name] = process_event(
                _event(),
                config=config,
                persistence=DynamoDBPersistenceLayer(table_name=config.idempotency_table),
                lambda_context=CONTEXT,
            )
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[name] = error
        finally:
            if name == "second":
                second_is_done.set()

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    assert first_is_starting.wait(timeout=10)
    deliver("second")
    first.join(timeout=10)

    assert not isinstance(outcomes["first"], Exception), outcomes["first"]
    assert outcomes["first"]["status"] == "started"
    assert isinstance(outcomes["second"], IdempotencyAlreadyInProgressError)
    assert len([c for c in gitlab_api.mock.calls if c.request.url == PIPELINES]) == 1
    # Lambda's retry of the duplicate, once the first is recorded, returns the recorded result.
    assert process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT) == outcomes["first"]


def test_a_gitlab_failure_does_not_block_the_retry(config, persistence, gitlab_api: GitLabApi) -> None:
    failing = _pipelines(gitlab_api, status=500)
    with pytest.raises(RepositoryHostError, match="HTTP 500"):
        process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT)
    gitlab_api.mock.remove(failing)
    _pipelines(gitlab_api)

    assert (
        process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT)["status"] == "started"
    )
    assert _started_versions(gitlab_api) == ["3"]


def test_approving_again_after_a_rejection_deploys_again(config, persistence, gitlab_api: GitLabApi) -> None:
    _pipelines(gitlab_api)
    process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT)

    assert (
        process_event(_event(status="Rejected"), config=config, persistence=persistence, lambda_context=CONTEXT)[
            "status"
        ]
        == "ignored"
    )
    process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT)
    process_event(_event(), config=config, persistence=persistence, lambda_context=CONTEXT)

    assert _started_versions(gitlab_api) == ["3", "3"]


# --- the handler: poison to the dead-letter queue at once, transient failures retried -------------


@pytest.fixture
def handler_environment(token_secret_arn: str, table: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="dlq")["QueueUrl"]
    environment = {
        "GITLAB_SERVER_URL": GITLAB_URL,
        "GITLAB_TOKEN_SECRET_ARN": token_secret_arn,
        "GITLAB_DEPLOY_PROJECT_ID": "1234",
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "GITLAB_CONNECTIONS": connections_json(token_secret_arn),
        "IDEMPOTENCY_TABLE_NAME": table,
        "DEAD_LETTER_QUEUE_URL": queue_url,
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return environment


def _dead_letters(queue_url: str) -> list[dict[str, Any]]:
    messages = (
        boto3.client("sqs", region_name=REGION)
        .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )
    return [
        {"event": json.loads(m["Body"]), "reason": m["MessageAttributes"]["ErrorMessage"]["StringValue"]}
        for m in messages
    ]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e["detail"].pop("ModelPackageArn"), "detail.ModelPackageArn: Field required"),
        (lambda e: e["detail"].update(ModelPackageGroupName="other-p-9"), "group 'other-p-9', but this trigger"),
    ],
)
def test_poison_goes_to_the_dead_letter_queue_at_once_with_its_reason(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext, mutate: Any, reason: str
) -> None:
    event = _event()
    mutate(event)

    result = lambda_handler(event, lambda_context)  # returns: Lambda does not retry it

    assert result["status"] == "dead-lettered" and reason in result["reason"]
    (letter,) = _dead_letters(handler_environment["DEAD_LETTER_QUEUE_URL"])
    assert letter["event"] == json.loads(json.dumps(event)) and reason in letter["reason"]
    assert gitlab_api.calls == []


def test_a_transient_gitlab_error_raises_so_lambda_retries_it(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext
) -> None:
    _pipelines(gitlab_api, status=503)

    with pytest.raises(RepositoryHostError, match="HTTP 503"):
        lambda_handler(_event(), lambda_context)

    assert _dead_letters(handler_environment["DEAD_LETTER_QUEUE_URL"]) == []


def test_a_retry_after_longer_than_the_time_left_is_not_slept_through(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext, retry_sleeps: list[float]
) -> None:
    limited = gitlab_api.mock.add(
        responses.POST, PIPELINES, status=429, json={"message": "429 Too Many Requests"}, headers={"Retry-After": "600"}
    )
    lambda_context.remaining_time_in_millis = 30_000

    with pytest.raises(RepositoryHostError) as error:
        lambda_handler(_event(), lambda_context)

    assert "retry after 600 s, longer than the 25 s this invocation has left" in str(error.value)
    assert retry_sleeps == [] and limited.call_count == 1
    assert TOKEN not in str(error.value)


def test_a_short_retry_after_is_honoured(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext, retry_sleeps: list[float]
) -> None:
    gitlab_api.mock.add(
        responses.POST, PIPELINES, status=429, json={"message": "slow down"}, headers={"Retry-After": "2"}
    )
    _pipelines(gitlab_api)

    assert lambda_handler(_event(), lambda_context)["status"] == "started"
    assert retry_sleeps == [2]


# --- AWS's documentation sample carries `source` twice ----------------------------------------------


def _doc_sample(*, list_last: bool) -> str:
    """The event as the documentation prints it: `source` twice, once as the rule pattern's list."""
    sources = ['"source": "aws.sagemaker"', '"source": ["aws.sagemaker"]']
    first, second = sources if list_last else reversed(sources)
    detail = json.dumps(_event()["detail"])
    return (
        '{"version": "0", "id": "d", "detail-type": "SageMaker Model Package State Change", '
        f'{first}, "account": "123456789012", "time": "2024-05-01T12:00:00Z", "region": "us-east-1", '
        f'{second}, "resources": [], "detail": {detail}}}'
    )


def test_the_documentation_sample_with_source_as_a_list_is_poison(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext
) -> None:
    """Decision: EventBridge's envelope has one string `source`; a list (the last duplicate wins in
    JSON parsing) is a hand-made event, dead-lettered naming the field, never guessed at."""
    event = json.loads(_doc_sample(list_last=True))

    result = lambda_handler(event, lambda_context)

    assert result["status"] == "dead-lettered" and "source: Input should be 'aws.sagemaker'" in result["reason"]
    assert gitlab_api.calls == []


def test_the_documentation_sample_with_source_as_a_string_last_is_processed(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext
) -> None:
    _pipelines(gitlab_api)

    assert lambda_handler(json.loads(_doc_sample(list_last=False)), lambda_context)["status"] == "started"


def test_an_unchanged_copy_of_a_poison_event_is_not_retried_either(
    handler_environment, gitlab_api: GitLabApi, lambda_context: FakeLambdaContext
) -> None:
    event = copy.deepcopy(_event())
    event["source"] = "aws.events"
    for _ in range(2):
        assert lambda_handler(event, lambda_context)["status"] == "dead-lettered"
    assert len(_dead_letters(handler_environment["DEAD_LETTER_QUEUE_URL"])) == 2
