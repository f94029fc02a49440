"""cfn-lint exceptions recorded in the templates themselves, so every consumer of a template
(`make lint`, the tests, a reviewer running cfn-lint by hand) applies the same, visible list."""

from __future__ import annotations

import aws_cdk as cdk


def ignore_cfn_lint_checks(stack: cdk.Stack, *checks: str) -> None:
    """Add cfn-lint rule IDs to the stack template's `Metadata.cfn-lint.config.ignore_checks`."""
    metadata = dict(stack.template_options.metadata or {})
    config = dict(metadata.get("cfn-lint", {}).get("config", {}))
    config["ignore_checks"] = sorted(set(config.get("ignore_checks", [])) | set(checks))
    metadata["cfn-lint"] = {"config": config}
    stack.template_options.metadata = metadata
