"""Launch parameters of the product templates."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct


def string_parameter(scope: Construct, name: str, description: str, **constraints: Any) -> cdk.CfnParameter:
    """A `String` CloudFormation parameter; `constraints` are CfnParameter's (allowed_pattern, max_length, ...)."""
    return cdk.CfnParameter(scope, name, type="String", description=description, **constraints)
