"""Semantic versions of the model image, from what changed since the newest image.

Each pushed image has a record in S3 (`<project>/<model>/images/<version>/record.json`): its files'
hashes, the commit, the pipeline and the hyperparameters. A new package is compared with the newest
image's record: a changed file matching a `major` pattern of mlops.yaml bumps the major, a `minor`
pattern the minor, anything else the patch; no change at all reuses the newest version (nothing is
built: a re-run pipeline pushes nothing twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pathspec
from packaging.version import Version

from mlops_ci.semantic_versions import Part, bump, parse_version

FIRST_IMAGE = Version("1.0.0")


@dataclass(frozen=True)
class ImageVersion:
    """The image version to use, whether to build it, the part bumped and why."""

    version: Version
    build: bool
    bump: Part | None
    reason: str


def changed_files(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Paths added, removed or modified between two manifests ({path: sha256})."""
    return sorted(path for path in set(old) | set(new) if old.get(path) != new.get(path))


def classify(changed: Sequence[str], rules: Mapping[str, Sequence[str]]) -> Part | None:
    """The part of the version these changes bump; None when nothing changed."""
    if not changed:
        return None
    for part in ("major", "minor"):
        patterns = rules.get(part, [])
        if patterns and any(
            pathspec.PathSpec.from_lines("gitwildmatch", patterns).match_file(path) for path in changed
        ):
            return part  # type: ignore[return-value]
    return "patch"


def newest(tags: Sequence[str]) -> Version | None:
    """The highest semantic-version tag (other tags are ignored)."""
    versions = []
    for tag in tags:
        try:
            versions.append(parse_version(tag))
        except ValueError:
            continue
    return max(versions, default=None)


def next_image_version(
    *,
    tags: Sequence[str],
    newest_record: Mapping[str, Any] | None,
    files: Mapping[str, str],
    rules: Mapping[str, Sequence[str]],
) -> ImageVersion:
    """Decide the new image's version from the repository's tags and the newest image's record."""
    latest = newest(tags)
    if latest is None:
        return ImageVersion(FIRST_IMAGE, True, None, "first image of the model")
    if newest_record is None:
        return ImageVersion(bump(latest, "minor"), True, "minor", f"image {latest} has no record to compare with")
    changed = changed_files(newest_record.get("files", {}), files)
    part = classify(changed, rules)
    if part is None:
        return ImageVersion(latest, False, None, f"no file changed since image {latest}: nothing to build")
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return ImageVersion(bump(latest, part), True, part, f"{part}: {shown} changed since image {latest}")


def record(
    *,
    version: Version,
    decision: ImageVersion,
    files: Mapping[str, str],
    commit: str,
    pipeline: str,
    hyperparameters: Mapping[str, str],
) -> str:
    """The JSON record stored beside a pushed image."""
    return json.dumps(
        {
            "version": str(version),
            "bump": decision.bump,
            "reason": decision.reason,
            "commit": commit,
            "pipeline": pipeline,
            "hyperparameters": dict(hyperparameters),
            "files": dict(files),
        },
        indent=2,
        sort_keys=True,
    )
