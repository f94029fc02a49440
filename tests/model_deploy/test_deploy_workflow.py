"""The deploy pipeline does not run for the seed commit, which arrives before any approved model."""

from __future__ import annotations

import re

import yaml

from seed_code_checkin.checkin import seed_commit_message

from .conftest import SEED

# GitLab's regex literal in a rules:if expression: `$CI_COMMIT_TITLE =~ /pattern/`.
_TITLE_RULE = re.compile(r'\$CI_PIPELINE_SOURCE == "push" && \$CI_COMMIT_TITLE =~ /(?P<pattern>.+)/$')


def workflow_rules() -> list[dict]:
    return yaml.safe_load((SEED / ".gitlab-ci.yml").read_text())["workflow"]["rules"]


def test_the_seed_commit_push_is_skipped_and_everything_else_runs() -> None:
    skip, run = workflow_rules()
    assert skip["when"] == "never" and run == {"when": "always"}
    pattern = re.compile(_TITLE_RULE.match(skip["if"]).group("pattern"))
    message = seed_commit_message("model deploy", "SageMaker project abalone (p-abc123)")
    assert pattern.search(message), "the rule no longer matches the seed commit's title"
    for later_commit in ("Raise the production instance count", "Seed more test rows"):
        assert not pattern.search(later_commit)
