"""Semantic versions of models, decided from the versions already registered.

A model version is `major.minor.patch`. It follows the image it was trained from: training a newer
image bumps the part of the model version that the image's version changed (image 1.4.2 -> 2.0.0
bumps the model's major, 1.4.2 -> 1.5.0 its minor, 1.4.2 -> 1.4.3 its patch). Training the image
the newest model version was already trained from is retraining (new data, same code): it bumps
the patch. The first version of a model is 1.0.0. An image older than the newest version's image
is refused: deploy the older model version instead of training it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.version import InvalidVersion, Version

Part = Literal["major", "minor", "patch"]
FIRST_VERSION = Version("1.0.0")


def parse_version(text: str) -> Version:
    """A `major.minor.patch` version; ValueError for anything else (pre-releases, epochs, 1.2, v1.2.3)."""
    try:
        version = Version(text)
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a semantic version major.minor.patch") from None
    if len(version.release) != 3 or str(version) != text or version.is_prerelease or version.is_postrelease:
        raise ValueError(f"{text!r} is not a semantic version major.minor.patch")
    return version


def bump(version: Version, part: Part) -> Version:
    """The next version after `version` that changes `part` (lower parts reset to 0)."""
    major, minor, patch = version.release
    if part == "major":
        return Version(f"{major + 1}.0.0")
    if part == "minor":
        return Version(f"{major}.{minor + 1}.0")
    return Version(f"{major}.{minor}.{patch + 1}")


def changed_part(old: Version, new: Version) -> Part | None:
    """The most significant part in which `new` differs from `old`; None when they are equal."""
    parts: tuple[Part, ...] = ("major", "minor", "patch")
    for part, before, after in zip(parts, old.release, new.release, strict=True):
        if before != after:
            return part
    return None


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version already in the registry and the image version it was trained from."""

    model_version: Version
    image_version: Version


@dataclass(frozen=True)
class VersionDecision:
    """The version the next training registers, and why."""

    model_version: Version
    bump: Part | None
    retraining: bool
    reason: str


def next_model_version(existing: Sequence[RegisteredVersion], image_version: Version) -> VersionDecision:
    """Decide the version of a model trained from `image_version`, given the registered versions."""
    if not existing:
        return VersionDecision(FIRST_VERSION, None, False, f"first version of the model (image {image_version})")
    latest = max(existing, key=lambda registered: registered.model_version)
    part = changed_part(latest.image_version, image_version)
    if part is None:
        return VersionDecision(
            bump(latest.model_version, "patch"),
            "patch",
            True,
            f"retraining: image {image_version} was already trained as {latest.model_version}",
        )
    if image_version < latest.image_version:
        raise ValueError(
            f"image {image_version} is older than image {latest.image_version} of the newest model version "
            f"{latest.model_version}; deploy an older model version instead of retraining an old image"
        )
    return VersionDecision(
        bump(latest.model_version, part),
        part,
        False,
        f"image {latest.image_version} -> {image_version} changed its {part} version "
        f"since model {latest.model_version}",
    )
