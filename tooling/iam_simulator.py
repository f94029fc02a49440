"""Decide IAM requests the way AWS does, conditions included, with a maintained policy simulator.

`@cloud-copilot/iam-simulate` (npm, pinned in package.json) evaluates identity policies,
resource and trust policies, permission boundaries and every condition operator. The tests use it
to decide whether a role may be assumed or an action allowed, instead of an evaluator of their own
(which would see only what it was written to see). One Node process evaluates a batch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("iam_simulate.mjs")
ALLOWED = "Allowed"


class SimulationError(RuntimeError):
    """The simulator rejected a request or a policy (the message says which and why)."""


@dataclass(frozen=True)
class IamRequest:
    """One request: who, what, on which resource (of which account), with which request context."""

    principal: str
    action: str
    resource: str
    resource_account: str
    identity_policies: Sequence[Mapping[str, Any]] = ()
    resource_policy: Mapping[str, Any] | None = None
    permission_boundary: Mapping[str, Any] | None = None
    context: Mapping[str, str | list[str]] = field(default_factory=dict)

    def simulation(self) -> dict[str, Any]:
        """The request in iam-simulate's `Simulation` shape."""
        simulation: dict[str, Any] = {
            "request": {
                "principal": self.principal,
                "action": self.action,
                "resource": {"resource": self.resource, "accountId": self.resource_account},
                "contextVariables": dict(self.context),
            },
            "identityPolicies": [
                {"name": f"policy{index}", "policy": policy} for index, policy in enumerate(self.identity_policies)
            ],
        }
        if self.resource_policy is not None:
            simulation["resourcePolicy"] = self.resource_policy
        if self.permission_boundary is not None:
            simulation["permissionBoundaryPolicies"] = [{"name": "boundary", "policy": self.permission_boundary}]
        return simulation


ERROR = "Error"


def decide(requests: Sequence[IamRequest], *, strict: bool = True) -> list[str]:
    """`Allowed`, `ImplicitlyDenied` or `ExplicitlyDenied` for each request, in order.

    A request the simulator cannot evaluate (an action on a resource type it does not apply to,
    an invalid policy) raises `SimulationError`, or with `strict=False` is decided `Error`.
    """
    node = shutil.which("node")
    if node is None:
        raise SimulationError("node is not on PATH: the IAM simulator runs on Node.js (make setup)")
    completed = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps([request.simulation() for request in requests]),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise SimulationError(f"iam-simulate failed: {completed.stderr[-2000:]}")
    outcomes = json.loads(completed.stdout)
    for request, outcome in zip(requests, outcomes, strict=True):
        if strict and outcome["result"] == ERROR:
            raise SimulationError(f"iam-simulate rejected {request.action} on {request.resource}: {outcome['errors']}")
    return [str(outcome["result"]) for outcome in outcomes]


def allowed(request: IamRequest) -> bool:
    """Whether AWS would allow this one request."""
    return decide([request])[0] == ALLOWED
