"""The image's serving pins agree with the platform's pins, so the image runs what the tests ran."""

from __future__ import annotations

from pathlib import Path

from tooling.requirement_pins import read_pins as pins

REPO = Path(__file__).resolve().parents[2]


def test_serving_pins_equal_the_platform_pins():
    serving = pins(REPO / "containers" / "xgboost" / "requirements-serve.txt")
    platform = pins(REPO / "requirements-dev.txt")
    assert serving, "requirements-serve.txt pins nothing"
    assert {name: platform.get(name) for name in serving} == serving
