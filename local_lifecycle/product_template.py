"""Read what a launched project gets from the synthesized product template.

The lifecycle does not hard-code names: it resolves the template's own expressions (bucket
name, model package group, custom-resource properties, rule pattern) for the launch
parameters, so a change to the product stack shows up in the local run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class UnresolvableExpression(ValueError):
    """The template uses an intrinsic or reference the local run cannot evaluate."""


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
        """Evaluate Ref / Fn::Join / Fn::GetAtt / Fn::Split / Fn::FindInMap in `value`.

        `refs` maps parameter names, pseudo parameters and logical IDs to values; `attributes`
        maps (logical ID, attribute) to values. Anything else is an `UnresolvableExpression`.
        """
        attributes = attributes or {}
        if isinstance(value, list):
            return [self.resolve(item, refs, attributes) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                handler = self._INTRINSICS.get(key)
                if handler is None:
                    raise UnresolvableExpression(f"{self.path.name}: intrinsic {key} is not supported locally")
                return handler(self, argument, refs, attributes)
        return {k: self.resolve(v, refs, attributes) for k, v in value.items()}

    def _ref(self, name: str, refs: Mapping[str, Any], _: Mapping[tuple[str, str], Any]) -> Any:
        if name not in refs:
            raise UnresolvableExpression(f"{self.path.name}: no local value for Ref {name}")
        return refs[name]

    def _get_att(self, argument: Any, _: Mapping[str, Any], attributes: Mapping[tuple[str, str], Any]) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        if (logical_id, attribute) not in attributes:
            raise UnresolvableExpression(f"{self.path.name}: no local value for GetAtt {logical_id}.{attribute}")
        return attributes[(logical_id, attribute)]

    def _join(self, argument: Any, refs: Mapping[str, Any], attributes: Mapping[tuple[str, str], Any]) -> str:
        separator, parts = argument
        return str(separator).join(
            str(self.resolve(part, refs, attributes)) for part in self.resolve(parts, refs, attributes)
        )

    def _split(self, argument: Any, refs: Mapping[str, Any], attributes: Mapping[tuple[str, str], Any]) -> list[str]:
        separator, source = argument
        return str(self.resolve(source, refs, attributes)).split(separator)

    def _find_in_map(self, argument: Any, refs: Mapping[str, Any], attributes: Mapping[tuple[str, str], Any]) -> Any:
        mapping, top, second = (str(self.resolve(part, refs, attributes)) for part in argument)
        try:
            return self.template["Mappings"][mapping][top][second]
        except KeyError:
            raise UnresolvableExpression(
                f"{self.path.name}: no {mapping}.{top}.{second} in the template's Mappings"
            ) from None

    _INTRINSICS: dict[str, Callable[..., Any]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Join": _join,
        "Fn::Split": _split,
        "Fn::FindInMap": _find_in_map,
    }
