"""Notifications of the MLOps DAGs: e-mail through SNS and a Slack incoming webhook.

Messages are built by plain functions from plain values; `deliver` sends one to both channels and
keeps going when one of them fails, so a Slack outage never hides the e-mail and vice versa.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# SNS subjects: at most 100 ASCII characters without line breaks.
SUBJECT_LIMIT = 100
# Error texts can be long (tracebacks, API responses): notifications carry the start of them.
ERROR_LIMIT = 1500


@dataclass(frozen=True)
class Notification:
    """One message: a subject, a headline and named facts."""

    subject: str
    headline: str
    facts: Mapping[str, str] = field(default_factory=dict)
    failed: bool = False

    def text(self) -> str:
        """Plain text (the e-mail body)."""
        lines = [self.headline, ""] + [f"{name}: {value}" for name, value in self.facts.items()]
        return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_notification(
    *, dag_id: str, task_id: str, run_id: str, try_number: int, error: str, log_url: str = ""
) -> Notification:
    """A task failed: which task of which run, and the error."""
    facts = {"DAG": dag_id, "Task": task_id, "Run": run_id, "Try": str(try_number), "Error": _clip(error, ERROR_LIMIT)}
    if log_url:
        facts["Log"] = log_url
    return Notification(
        subject=f"FAILED {dag_id}.{task_id}",
        headline=f"Task {task_id} of DAG {dag_id} failed in run {run_id}.",
        facts=facts,
        failed=True,
    )


def training_notification(
    *,
    project: str,
    model: str,
    model_version: str,
    version_reason: str,
    image_uri: str,
    metrics: Mapping[str, float],
    gate: str,
    model_package_arn: str,
    source: str = "",
) -> Notification:
    """A model version was trained, evaluated and registered (waiting for approval)."""
    facts = {
        "Model version": f"{model_version} ({version_reason})",
        "Image": image_uri,
        **{f"Metric {name}": f"{value:.6g}" for name, value in sorted(metrics.items())},
        "Evaluation gate": gate,
        "Model package": model_package_arn,
        "Approval": "PendingManualApproval: run the approval job of the MLOps pipeline to deploy it",
    }
    if source:
        facts["Pipeline"] = source
    return Notification(
        subject=f"Trained {project}/{model} {model_version}",
        headline=f"Model {project}/{model} version {model_version} is trained, evaluated and registered.",
        facts=facts,
    )


def deployment_notification(
    *,
    project: str,
    model: str,
    model_version: str,
    endpoint_name: str,
    endpoint_arn: str,
    instance_type: str,
    scaling: str,
    source: str = "",
) -> Notification:
    """An endpoint now serves a model version."""
    facts = {
        "Endpoint": endpoint_name,
        "Endpoint ARN": endpoint_arn,
        "Model version": model_version,
        "Instance type": instance_type,
        "Auto scaling": scaling,
    }
    if source:
        facts["Pipeline"] = source
    return Notification(
        subject=f"Deployed {project}/{model} {model_version}",
        headline=f"Endpoint {endpoint_name} serves model {project}/{model} version {model_version}.",
        facts=facts,
    )


def slack_webhook_url(secret_value: str | bytes) -> str:
    """The webhook URL held by the Slack secret: the URL itself or JSON `{"url": ...}`.

    Only https URLs are accepted, and plain http to this machine (a local stand-in of Slack).
    The value never appears in an error: it is a credential.
    """
    text = secret_value.decode() if isinstance(secret_value, bytes) else secret_value
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise ValueError("the Slack webhook secret is neither a URL nor JSON with a 'url' key") from None
        text = str(document.get("url", "")) if isinstance(document, dict) else ""
    parts = urlsplit(text)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
    if not (parts.scheme == "https" or local) or not parts.hostname:
        raise ValueError("the Slack webhook secret must hold an https:// incoming-webhook URL")
    return text


def sns_subject(notification: Notification) -> str:
    """The subject as SNS accepts it: ASCII, one line, at most 100 characters."""
    ascii_only = notification.subject.encode("ascii", "replace").decode().replace("\n", " ").replace("\r", " ")
    return _clip(ascii_only, SUBJECT_LIMIT)


def slack_message(notification: Notification) -> dict[str, Any]:
    """Slack incoming-webhook payload: a fallback text and Block Kit blocks."""
    icon = ":red_circle:" if notification.failed else ":large_green_circle:"
    facts = "\n".join(f"*{name}:* {value}" for name, value in notification.facts.items())
    return {
        "text": f"{notification.subject}: {notification.headline}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{notification.headline}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(facts, 2900)}},
        ],
    }


def deliver(
    notification: Notification,
    *,
    publish_email: Callable[[str, str], object],
    post_slack: Callable[[dict[str, Any]], object],
) -> list[str]:
    """Send to both channels; return what failed (empty when both were delivered).

    `publish_email(subject, text)` publishes to the SNS topic; `post_slack(payload)` posts to the
    webhook. Errors are reported by channel and exception type only: a webhook URL can appear in
    an HTTP error's text and is a credential.
    """
    problems = []
    sends: list[tuple[str, Callable[[], object]]] = [
        ("SNS", lambda: publish_email(sns_subject(notification), notification.text())),
        ("Slack", lambda: post_slack(slack_message(notification))),
    ]
    for channel, send in sends:
        try:
            send()
        except Exception as error:  # one channel failing must not stop the other
            problems.append(f"{channel}: {_error_kind(error)}")
    return problems


def _error_kind(error: Exception) -> str:
    """Exception type, plus the AWS error code of a botocore ClientError (never the message)."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(error).__name__} ({code})" if code else type(error).__name__
