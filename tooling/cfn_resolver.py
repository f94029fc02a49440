"""CloudFormation intrinsic functions evaluated outside CloudFormation, for local runs and checks.

`resolve` evaluates Ref, Fn::GetAtt, Fn::Join, Fn::Split, Fn::Select, Fn::Sub and Fn::FindInMap in a
template fragment. `refs` maps parameter names, pseudo parameters and logical IDs to values and
`attributes` maps (logical ID, attribute) to values. A name missing from both goes to `fallback`,
which supplies a value (placeholders, for policy checks) or, by default, raises
`UnresolvableExpression` (the local lifecycle: a value it cannot know is an error). Any other
intrinsic is an `UnresolvableExpression`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableExpression(ValueError):
    """The fragment uses an intrinsic, or names a value, the resolver cannot evaluate."""


def _missing(name: str, attribute: str | None) -> Any:
    what = f"GetAtt {name}.{attribute}" if attribute else f"Ref {name}"
    raise UnresolvableExpression(f"no local value for {what}")


@dataclass
class Resolver:
    """The values references resolve to, and what to do about a reference without one."""

    refs: Mapping[str, Any]
    attributes: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    fallback: Callable[[str, str | None], Any] = _missing

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                handler = _INTRINSICS.get(key)
                if handler is None:
                    raise UnresolvableExpression(f"intrinsic {key} is not supported locally")
                return handler(self, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> Any:
        return self.refs[name] if name in self.refs else self.fallback(name, None)

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
        key = (logical_id, attribute)
        return self.attributes[key] if key in self.attributes else self.fallback(logical_id, attribute)

    def _join(self, argument: Any) -> str:
        separator, parts = argument
        return str(separator).join(str(self.resolve(part)) for part in self.resolve(parts))

    def _split(self, argument: Any) -> list[str]:
        separator, source = argument
        return str(self.resolve(source)).split(str(separator))

    def _select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        local = {name: self.resolve(value) for name, value in variables.items()}

        def value_of(match: re.Match[str]) -> str:
            name = match[1]
            if name in local:
                return str(local[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att([logical_id, attribute]))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(value_of, text).replace("${!", "${")

    def _find_in_map(self, argument: Any) -> Any:
        mapping, top, second = (str(self.resolve(part)) for part in argument)
        try:
            return self.mappings[mapping][top][second]
        except KeyError:
            raise UnresolvableExpression(f"no {mapping}.{top}.{second} in the template's Mappings") from None


_INTRINSICS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Join": Resolver._join,
    "Fn::Split": Resolver._split,
    "Fn::Select": Resolver._select,
    "Fn::Sub": Resolver._sub,
    "Fn::FindInMap": Resolver._find_in_map,
}
