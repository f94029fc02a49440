"""The images' serving pins agree with the platform's pins, so the images run what the tests ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooling.requirement_pins import read_pins as pins

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["http_serving", "xgboost"])
def test_serving_pins_equal_the_platform_pins(package):
    serving = pins(REPO / "containers" / package / "requirements-serve.txt")
    platform = pins(REPO / "requirements-dev.txt")
    assert serving, f"{package}/requirements-serve.txt pins nothing"
    assert {name: platform.get(name) for name in serving} == serving
