"""checkov findings that do not apply, recorded in the resource's own metadata with the reason.

checkov reads `Metadata.checkov.skip` of each resource; a skip says why the check does not apply to
that resource, so the reason travels with the template to every reviewer and scanner run.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

# Functions CDK adds that run only while CloudFormation deploys the stack.
DEPLOY_TIME_FUNCTION_SKIPS = {
    "CKV_AWS_115": "Invoked only by CloudFormation during a deployment of this stack; no concurrency to bound.",
    "CKV_AWS_116": "Invoked synchronously by CloudFormation, which reports a failure itself: a DLQ would stay empty.",
    "CKV_AWS_117": "Reaches only AWS APIs (S3, CloudFormation) during a deployment; no VPC resource to reach.",
    "CKV_AWS_173": "Its environment variables hold no secret; Lambda encrypts them at rest with its service key.",
}


def skip_checkov(construct: IConstruct, reasons: dict[str, str]) -> None:
    """Skip checkov checks (id -> reason) on `construct`'s CloudFormation resource."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to record checkov skips on")
    existing = resource.get_metadata("checkov") or {}
    skips = {item["id"]: item["comment"] for item in existing.get("skip", [])}
    skips.update(reasons)
    resource.add_metadata("checkov", {"skip": [{"id": key, "comment": value} for key, value in sorted(skips.items())]})
