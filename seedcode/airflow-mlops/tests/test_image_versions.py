"""The image's semantic version follows what changed."""

from __future__ import annotations

from mlops_ci.image_versions import classify, next_image_version

RULES = {"major": ["model/contract.json"], "minor": ["Dockerfile", "model/**"]}


def test_changes_bump_the_part_their_rule_names() -> None:
    assert classify(["model/contract.json", "README.md"], RULES) == "major"
    assert classify(["model/evaluate.py"], RULES) == "minor"
    assert classify(["README.md"], RULES) == "patch"
    assert classify([], RULES) is None


def test_unchanged_sources_reuse_the_newest_image() -> None:
    decision = next_image_version(tags=["1.2.0"], newest_record={"files": {"a": "1"}}, files={"a": "1"}, rules=RULES)
    assert (str(decision.version), decision.build) == ("1.2.0", False)
