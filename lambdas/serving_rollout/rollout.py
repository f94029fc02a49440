"""Start a rolling replacement of the always-on service, at most once per approval event.

The service's init container serves the newest approved version it finds when a task (or the app
server) starts, so rolling the service is all an approval or a rejection needs. EventBridge delivers at
least once: an event older than the service's latest deployment has been rolled out already and is
skipped, so a redelivery does not replace the tasks twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


class NotReady(Exception):
    """The service is busy with another change; raising lets Lambda retry the event later."""


@dataclass(frozen=True)
class Outcome:
    """What the rollout did: `rolled` or `skipped`, and why."""

    action: str
    reason: str


def roll_ecs_service(ecs: Any, *, cluster: str, service: str, event_time: datetime) -> Outcome:
    """Force a new deployment of the Fargate service unless one started after the event."""
    (described,) = ecs.describe_services(cluster=cluster, services=[service])["services"]
    primary = next(d for d in described["deployments"] if d["status"] == "PRIMARY")
    if primary["createdAt"] >= event_time:
        return Outcome(
            "skipped",
            f"deployment {primary['id']} started at {primary['createdAt']:%Y-%m-%dT%H:%M:%SZ}, after the event",
        )
    ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    return Outcome("rolled", f"new deployment of {service} forced")


def restart_beanstalk_environment(beanstalk: Any, *, environment: str, event_time: datetime) -> Outcome:
    """Restart the environment's app server (its init service fetches the model again) unless done after the event."""
    (described,) = beanstalk.describe_environments(EnvironmentNames=[environment], IncludeDeleted=False)["Environments"]
    if described["DateUpdated"] >= event_time:
        return Outcome(
            "skipped", f"{environment} was updated at {described['DateUpdated']:%Y-%m-%dT%H:%M:%SZ}, after the event"
        )
    if described["Status"] != "Ready":
        raise NotReady(f"{environment} is {described['Status']}; the event is retried")
    beanstalk.restart_app_server(EnvironmentName=environment)
    return Outcome("rolled", f"app server of {environment} restarted")
