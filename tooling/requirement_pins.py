"""Read the `name==version` pins of a requirements file, following `-r` includes.

Used to check that every pin file (seed repositories, container images, Lambda bundles) agrees
with the platform's own pins, so one upgrade touches one place and nothing drifts.
"""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def read_pins(path: Path) -> dict[str, str]:
    """Canonical package name -> pinned version; raise ValueError naming any unpinned line."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(read_pins(path.parent / line[3:].strip()))
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise ValueError(f"{path}:{number}: {line!r} is not a requirement ({error})") from None
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"{path}:{number}: {line!r} is not pinned with ==")
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins
