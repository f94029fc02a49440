"""checkov findings that do not apply, recorded in the template next to the resource they concern.

checkov reads `Metadata.checkov.skip` of each CloudFormation resource. Every skip names the check
and says why it does not apply to *that* resource; a reviewer must be able to agree with it.
Any stack can use `skip_checks`; `tooling/lint.py` and the tests run checkov on every template.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from constructs import IConstruct

MIN_REASON_LENGTH = 20
# Functions CDK adds that run only while CloudFormation deploys the stack (asset copies, log retention).
DEPLOY_TIME_FUNCTION_SKIPS = {
    "CKV_AWS_115": "Invoked only by CloudFormation during a deployment of this stack; no concurrency to bound.",
    "CKV_AWS_116": "Invoked synchronously by CloudFormation, which reports a failure itself: a DLQ would stay empty.",
    "CKV_AWS_117": "Reaches only AWS APIs (S3, CloudFormation) during a deployment; no VPC resource to reach.",
    "CKV_AWS_173": "Its environment variables hold no secret; Lambda encrypts them at rest with its service key.",
}


def _cfn_resource(construct: IConstruct) -> cdk.CfnResource:
    if isinstance(construct, cdk.CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate for checkov")
    return child


def skip_checks(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Skip the checkov checks `{check ID: reason}` on `construct`'s CloudFormation resource.

    `construct` is a CfnResource or an L2 construct (its default child is annotated). Skips
    already recorded stay; a check skipped again gets the new reason.
    """
    for check_id, reason in reasons.items():
        if not check_id.startswith("CKV"):
            raise ValueError(f"{check_id!r} is not a checkov check ID")
        if len(reason.strip()) < MIN_REASON_LENGTH:
            raise ValueError(f"the reason for skipping {check_id} must say why it does not apply (got {reason!r})")
    resource = _cfn_resource(construct)
    current = resource.get_metadata("checkov") or {}
    skips = {item["id"]: item["comment"] for item in current.get("skip", [])}
    skips.update(reasons)
    resource.add_metadata("checkov", {"skip": [{"id": k, "comment": v} for k, v in sorted(skips.items())]})
