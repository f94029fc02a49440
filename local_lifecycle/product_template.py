"""Read what a launched project gets from the synthesized product template.

The lifecycle does not hard-code names: it resolves the template's own expressions (bucket
name, model package group, custom-resource properties, rule pattern) for the launch
parameters, so a change to the product stack shows up in the local run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tooling.cfn_resolver import Resolver, UnresolvableExpression


class ProductTemplate:
    """A synthesized product template plus the values of its references for one launch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.template: dict[str, Any] = json.loads(path.read_text())

    @classmethod
    def find(cls, outdir: Path, product: str = "GitLabProjectTemplate") -> ProductTemplate:
        """The product template of `product` in a cdk.out directory."""
        matches = sorted(outdir.glob(f"*{product}*.product.template.json"))
        if len(matches) != 1:
            raise FileNotFoundError(f"expected one {product} product template in {outdir}, found {len(matches)}")
        return cls(matches[0])

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resources of one type, by logical ID."""
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    def single(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        """The only resource of a type (logical ID, resource)."""
        found = self.resources(resource_type)
        if len(found) != 1:
            raise LookupError(f"{self.path.name}: expected one {resource_type}, found {sorted(found)}")
        return next(iter(found.items()))

    def parameter_defaults(self) -> dict[str, str]:
        """Default value of every parameter that has one."""
        return {k: v["Default"] for k, v in self.template.get("Parameters", {}).items() if "Default" in v}

    def resolve(
        self, value: Any, refs: Mapping[str, Any], attributes: Mapping[tuple[str, str], Any] | None = None
    ) -> Any:
        """Evaluate the intrinsics in `value` (see tooling/cfn_resolver.py); unknown values are an error.

        `refs` maps parameter names, pseudo parameters and logical IDs to values; `attributes`
        maps (logical ID, attribute) to values.
        """
        resolver = Resolver(refs=refs, attributes=attributes or {}, mappings=self.template.get("Mappings", {}))
        try:
            return resolver.resolve(value)
        except UnresolvableExpression as error:
            raise UnresolvableExpression(f"{self.path.name}: {error}") from None
