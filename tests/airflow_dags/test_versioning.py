"""Model versions follow the image they were trained from; retraining bumps the patch."""

from __future__ import annotations

import pytest
from packaging.version import Version

from mlops_airflow.versioning import RegisteredVersion, bump, changed_part, next_model_version, parse_version


def registered(model: str, image: str) -> RegisteredVersion:
    return RegisteredVersion(Version(model), Version(image))


@pytest.mark.parametrize("text", ["1.2", "v1.2.3", "1.2.3rc1", "01.2.3", "1.2.3.4", "1.2.3.post1", ""])
def test_only_plain_semantic_versions_are_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        parse_version(text)


def test_bump_resets_the_lower_parts() -> None:
    assert [str(bump(Version("1.4.2"), part)) for part in ("major", "minor", "patch")] == ["2.0.0", "1.5.0", "1.4.3"]


def test_changed_part_is_the_most_significant_difference() -> None:
    assert changed_part(Version("1.4.2"), Version("2.0.0")) == "major"
    assert changed_part(Version("1.4.2"), Version("1.5.0")) == "minor"
    assert changed_part(Version("1.4.2"), Version("1.4.3")) == "patch"
    assert changed_part(Version("1.4.2"), Version("1.4.2")) is None


def test_the_first_version_is_1_0_0() -> None:
    decision = next_model_version([], Version("3.1.0"))
    assert (str(decision.model_version), decision.bump, decision.retraining) == ("1.0.0", None, False)


def test_retraining_the_same_image_bumps_the_patch() -> None:
    decision = next_model_version([registered("1.0.0", "1.0.0"), registered("1.1.0", "1.2.0")], Version("1.2.0"))
    assert (str(decision.model_version), decision.bump, decision.retraining) == ("1.1.1", "patch", True)
    assert "retraining" in decision.reason


@pytest.mark.parametrize(
    ("image", "expected", "part"),
    [("2.0.0", "2.0.0", "major"), ("1.3.0", "1.2.0", "minor"), ("1.2.7", "1.1.2", "patch")],
)
def test_a_newer_image_bumps_the_part_its_version_changed(image: str, expected: str, part: str) -> None:
    existing = [registered("1.0.0", "1.0.0"), registered("1.1.1", "1.2.5")]
    decision = next_model_version(existing, Version(image))
    assert (str(decision.model_version), decision.bump, decision.retraining) == (expected, part, False)


def test_the_newest_model_version_decides_not_the_newest_registration() -> None:
    # Registered out of order: 2.0.0 first, then a patch of the 1.x line.
    existing = [registered("2.0.0", "2.0.0"), registered("1.0.1", "1.0.0")]
    assert str(next_model_version(existing, Version("2.0.0")).model_version) == "2.0.1"


def test_an_image_older_than_the_newest_versions_image_is_refused() -> None:
    with pytest.raises(ValueError, match="older than image 1.2.0 of the newest model version 1.1.0"):
        next_model_version([registered("1.1.0", "1.2.0")], Version("1.1.9"))
