"""The image's serving pins agree with the platform's pins, so the image runs what the tests ran."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file (following `-r` includes), by lower-case name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif "==" in line:
            name, version = line.split("==", 1)
            found[name.strip().lower()] = version.strip()
    return found


def test_serving_pins_equal_the_platform_pins():
    serving = pins(REPO / "containers" / "xgboost" / "requirements-serve.txt")
    platform = pins(REPO / "requirements-dev.txt")
    assert serving, "requirements-serve.txt pins nothing"
    assert {name: platform.get(name) for name in serving} == serving
