"""The pin reader every pin-consistency test relies on."""

from __future__ import annotations

import pytest

from tooling.requirement_pins import read_pins


def test_reads_pins_follows_includes_and_canonicalizes_names(tmp_path) -> None:
    (tmp_path / "base.txt").write_text("PyYAML==6.0.3  # comment\n")
    (tmp_path / "dev.txt").write_text("-r base.txt\n\naws_lambda_powertools[parser]==3.37.0\n")
    assert read_pins(tmp_path / "dev.txt") == {"pyyaml": "6.0.3", "aws-lambda-powertools": "3.37.0"}


@pytest.mark.parametrize("line", ["boto3>=1.40", "boto3", "boto3==1.1,<2"])
def test_an_unpinned_line_is_named_with_its_file_and_line(tmp_path, line: str) -> None:
    (tmp_path / "r.txt").write_text(f"pyyaml==6.0.3\n{line}\n")
    with pytest.raises(ValueError, match=rf"r.txt:2: '{line}' is not pinned with =="):
        read_pins(tmp_path / "r.txt")


def test_every_pin_file_of_the_platform_is_fully_pinned(repo_root) -> None:
    for path in [
        repo_root / "requirements-dev.txt",
        repo_root / "requirements-checkov.txt",
        repo_root / "lambdas" / "requirements.txt",
        *repo_root.glob("seedcode/*/requirements.txt"),
        *repo_root.glob("containers/*/requirements-*.txt"),
        *repo_root.glob("bench/*/requirements-*.txt"),
    ]:
        assert read_pins(path), path


def test_checkov_is_pinned_at_the_version_the_project_reviewed(repo_root) -> None:
    assert read_pins(repo_root / "requirements-checkov.txt")["checkov"] == "3.3.30"
