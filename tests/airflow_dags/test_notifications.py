"""Notification texts, channel payloads, the webhook secret and delivery to both channels."""

from __future__ import annotations

import pytest

from mlops_airflow.notifications import (
    ERROR_LIMIT,
    deliver,
    deployment_notification,
    failure_notification,
    slack_message,
    slack_webhook_url,
    sns_subject,
    training_notification,
)


def test_failure_names_task_run_and_error() -> None:
    notification = failure_notification(
        dag_id="mlops_training", task_id="train", run_id="gitlab-7-train", try_number=1, error="boom " * 1000
    )
    text = notification.text()
    assert notification.failed and notification.subject == "FAILED mlops_training.train"
    assert "Task: train" in text and "Run: gitlab-7-train" in text and "Error: boom" in text
    assert len(notification.facts["Error"]) == ERROR_LIMIT and notification.facts["Error"].endswith("...")


def test_training_notification_carries_metrics_version_and_approval_hint() -> None:
    notification = training_notification(
        project="abalone",
        model="xgboost",
        model_version="1.2.0",
        version_reason="image 1.1.0 -> 1.2.0 changed its minor version",
        image_uri="repo:1.2.0",
        metrics={"mse": 4.912345, "rmse": 2.2},
        gate="mse <= 6.0: passed",
        model_package_arn="arn:pkg/3",
        source="https://gitlab/p/1",
    )
    text = notification.text()
    assert "Metric mse: 4.91235" in text and "Metric rmse: 2.2" in text
    assert "PendingManualApproval" in text and "Pipeline: https://gitlab/p/1" in text
    assert not notification.failed


def test_deployment_notification_carries_the_endpoint() -> None:
    notification = deployment_notification(
        project="p",
        model="m",
        model_version="1.0.0",
        endpoint_name="p-m",
        endpoint_arn="arn:endpoint/p-m",
        instance_type="ml.m5.large",
        scaling="1-2 instances",
    )
    assert (
        "Endpoint ARN: arn:endpoint/p-m" in notification.text() and "Auto scaling: 1-2 instances" in notification.text()
    )


def test_sns_subject_is_ascii_one_line_and_short() -> None:
    notification = failure_notification(dag_id="d" * 80, task_id="t\u00e9\nx" * 10, run_id="r", try_number=1, error="e")
    subject = sns_subject(notification)
    assert len(subject) <= 100 and subject.isascii() and "\n" not in subject


def test_slack_message_has_fallback_text_and_blocks() -> None:
    message = slack_message(failure_notification(dag_id="d", task_id="t", run_id="r", try_number=2, error="x"))
    assert message["text"].startswith("FAILED d.t")
    assert ":red_circle:" in message["blocks"][0]["text"]["text"] and "*Try:* 2" in message["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("secret", "url"),
    [
        ("https://hooks.slack.com/services/T/B/x", "https://hooks.slack.com/services/T/B/x"),
        (b'{"url": "https://hooks.slack.com/services/T/B/y"}', "https://hooks.slack.com/services/T/B/y"),
        ("http://127.0.0.1:8000/services/x", "http://127.0.0.1:8000/services/x"),
    ],
)
def test_webhook_url_from_the_secret(secret: str | bytes, url: str) -> None:
    assert slack_webhook_url(secret) == url


@pytest.mark.parametrize("secret", ["http://evil.example.com/hook", "not-a-url", '{"token": "x"}', "{broken"])
def test_bad_webhook_secret_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(ValueError) as error:
        slack_webhook_url(secret)
    assert secret not in str(error.value)


def test_one_failing_channel_does_not_stop_the_other() -> None:
    sent: list[object] = []

    class ClientError(Exception):
        response = {"Error": {"Code": "AuthorizationError", "Message": "https://hooks.slack.com/secret"}}

    def publish(subject: str, text: str) -> None:
        raise ClientError("denied")

    problems = deliver(
        failure_notification(dag_id="d", task_id="t", run_id="r", try_number=1, error="x"),
        publish_email=publish,
        post_slack=sent.append,
    )
    assert problems == ["SNS: ClientError (AuthorizationError)"] and len(sent) == 1
