"""Deploy one stage: create or update its CloudFormation stack and wait for the result.

    python deploy.py --stage staging        # or prod

Reads `build/<stage>-config-export.json` (written by build.py) and `endpoint-config-template.yml`,
deploys the stack `sagemaker-<project name>-<project id>-deploy-<stage>` and writes the stack's
outputs (EndpointName, ...) to `build/<stage>-outputs.json`.

- A stack left in ROLLBACK_COMPLETE by a failed first creation cannot be updated: it is deleted,
  then created again.
- "No updates are to be performed" (the same model and configuration again) is a success.
- On failure, the reasons CloudFormation gave for each failed resource and the stack's final
  (rollback) status are printed, and the exit status is 1.
- `--role-arn` deploys into another account by assuming that role first (comma-separated ARNs: a chain,
  assumed in order; see aws_session.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aws_session import session_for
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "endpoint-config-template.yml"
SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
NO_UPDATES = "No updates are to be performed"


class DeployError(Exception):
    """A deployment that did not succeed; the message says what CloudFormation reported."""


def stack_name(project_name: str, project_id: str, stage: str) -> str:
    """`sagemaker-<project name>-<project id>-deploy-<stage>`."""
    return f"sagemaker-{project_name}-{project_id}-deploy-{stage}"


def stack_status(cfn, name: str) -> str | None:
    """The stack's status, or None when no such stack exists (or it is deleted)."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def wait_until_settled(
    cfn, name: str, *, poll_seconds: float, timeout_seconds: float, sleep: Callable[[float], None] = time.sleep
) -> str | None:
    """Poll until the stack is in no *_IN_PROGRESS status; return that status (None once deleted)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = stack_status(cfn, name)
        if status is None or not status.endswith("_IN_PROGRESS"):
            return status
        if time.monotonic() > deadline:
            raise DeployError(f"stack {name} still {status} after {timeout_seconds:.0f} s")
        sleep(poll_seconds)


def latest_event_id(cfn, name: str) -> str | None:
    """The newest event of the stack (operations after it are the ones to report on)."""
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return None
    return events[0]["EventId"] if events else None


def events_since(cfn, name: str, marker: str | None) -> list[dict]:
    """The stack's events newer than `marker`, newest first (all events when `marker` is None)."""
    collected: list[dict] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=name):
        for event in page["StackEvents"]:
            if event["EventId"] == marker:
                return collected
            collected.append(event)
    return collected


def failure_reasons(events: list[dict]) -> list[str]:
    """The failed resources of the latest stack operation and why, oldest (the root cause) first.

    `events` come newest first, as `describe_stack_events` returns them. The operation began at
    the newest stack-level event whose reason is "User Initiated"; older events are ignored.
    Cancellations caused by another resource's failure ("Resource creation cancelled") come last.
    """
    operation = []
    for event in events:
        operation.append(event)
        if (
            event.get("ResourceType") == "AWS::CloudFormation::Stack"
            and event.get("ResourceStatusReason") == "User Initiated"
        ):
            break
    failed = [
        event
        for event in reversed(operation)
        if event.get("ResourceStatus", "").endswith("_FAILED")
        and event.get("ResourceType") != "AWS::CloudFormation::Stack"
    ]
    failed.sort(key=lambda event: "cancelled" in event.get("ResourceStatusReason", "").lower())
    return [
        f"{event['LogicalResourceId']} ({event.get('ResourceType', '?')}) {event['ResourceStatus']}: "
        f"{event.get('ResourceStatusReason', 'no reason given')}"
        for event in failed
    ]


def to_cfn_parameters(export: dict) -> tuple[list[dict], list[dict]]:
    """A template configuration (`{"Parameters": {...}, "Tags": {...}}`) as API Parameters and Tags."""
    parameters = [{"ParameterKey": key, "ParameterValue": str(value)} for key, value in export["Parameters"].items()]
    tags = [{"Key": key, "Value": str(value)} for key, value in export.get("Tags", {}).items()]
    return parameters, tags


def deploy(
    cfn,
    name: str,
    template_body: str,
    export: dict,
    *,
    poll_seconds: float = 15,
    timeout_seconds: float = 3600,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Create or update the stack and wait; return its outputs or raise DeployError with the reasons."""
    parameters, tags = to_cfn_parameters(export)

    def wait(stack: str) -> str | None:
        return wait_until_settled(cfn, stack, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds, sleep=sleep)

    status = wait(name)
    if status == "ROLLBACK_COMPLETE":
        log(f"stack {name} is ROLLBACK_COMPLETE (its creation failed) and cannot be updated: deleting it first")
        cfn.delete_stack(StackName=name)
        status = wait(name)
        if status not in (None, "DELETE_COMPLETE"):
            raise DeployError(f"stack {name} could not be deleted: {status}")
        status = None
    marker = latest_event_id(cfn, name) if status else None
    arguments = dict(StackName=name, TemplateBody=template_body, Parameters=parameters, Tags=tags)
    operation = "creation" if status is None else "update"
    log(f"{'creating' if status is None else 'updating'} stack {name}" + (f" (now {status})" if status else ""))
    try:
        if status is None:
            stack_id = cfn.create_stack(**arguments)["StackId"]
        else:
            stack_id = cfn.update_stack(**arguments)["StackId"]
    except ClientError as error:
        message = error.response["Error"].get("Message", str(error))
        if status is not None and NO_UPDATES in message:
            log(f"stack {name}: no updates are to be performed, the deployment is current")
            return stack_outputs(cfn, name)
        raise DeployError(f"{operation} of stack {name} refused: {message}") from None
    final = wait(stack_id)
    if final in SUCCESS:
        log(f"stack {name}: {final}")
        return stack_outputs(cfn, stack_id)
    reasons = failure_reasons(events_since(cfn, stack_id, marker))
    if not reasons:
        stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        reasons = [stack.get("StackStatusReason", "CloudFormation gave no reason")]
    raise DeployError(
        "\n".join(
            [f"stack {name} failed, final status {final}; failed resources:", *(f"  - {reason}" for reason in reasons)]
        )
    )


def stack_outputs(cfn, name: str) -> dict[str, str]:
    """The stack's outputs as a name -> value mapping."""
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=("staging", "prod"))
    parser.add_argument("--build-dir", type=Path, default=Path("build"), help="build.py's output directory")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument(
        "--role-arn", default="", help="role to assume in the target account (cross-account deployment); empty: none"
    )
    parser.add_argument("--poll-seconds", type=float, default=15.0)
    parser.add_argument("--timeout-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    missing = [n for n in ("SAGEMAKER_PROJECT_NAME", "SAGEMAKER_PROJECT_ID") if not os.environ.get(n)]
    if missing:
        print(f"deploy.py: error: missing CI/CD variables: {', '.join(missing)}", file=sys.stderr)
        return 1
    export_path = args.build_dir / f"{args.stage}-config-export.json"
    try:
        export = json.loads(export_path.read_text())
    except FileNotFoundError:
        print(
            f"deploy.py: error: {export_path} not found: run build.py first (the build job's artifact)", file=sys.stderr
        )
        return 1
    name = stack_name(os.environ["SAGEMAKER_PROJECT_NAME"], os.environ["SAGEMAKER_PROJECT_ID"], args.stage)
    cfn = session_for(args.role_arn, os.environ.get("AWS_REGION") or None).client("cloudformation")
    try:
        outputs = deploy(
            cfn,
            name,
            args.template.read_text(),
            export,
            poll_seconds=args.poll_seconds,
            timeout_seconds=args.timeout_seconds,
        )
    except DeployError as error:
        print(f"deploy.py: error: {error}", file=sys.stderr)
        return 1
    (args.build_dir / f"{args.stage}-outputs.json").write_text(json.dumps(outputs, indent=2) + "\n")
    print(f"{args.stage} endpoint: {outputs.get('EndpointName')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
