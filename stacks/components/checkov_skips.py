"""checkov findings that do not apply, recorded on the resource with the reason (checkov reads the metadata)."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def skip_checkov(construct: IConstruct, *checks: tuple[str, str]) -> None:
    """Skip checkov `checks` ((id, reason) pairs) on the CloudFormation resource of `construct`."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] = [*existing["skip"], *({"id": check, "comment": reason} for check, reason in checks)]
    resource.add_metadata("checkov", existing)
