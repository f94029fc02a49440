"""The new templates are cdk-nag clean (with reasons), cfn-lint clean, and their policies parliament clean."""

from __future__ import annotations

import json

import parliament
import pytest
from parliament import analyze_policy_string

from tooling.account_policy_check import check_grants_only
from tooling.lint import cfn_lint

pytestmark = pytest.mark.xdist_group("cdk")

# Parliament finding types ignored, each with its reason:
IGNORED = {
    # Resource policies name principals as `arn:aws:iam::<account>:root` of accounts parliament cannot know.
    "UNKNOWN_PRINCIPAL": "principals are the configured staging/production account roots or the pipeline role ARN",
    # Trust policies have no Resource element; parliament reads them as identity policies.
    "MALFORMED": "only accepted on trust policies (kind 'trust'), which by definition have no Resource",
    # RESOURCE_MISMATCH is accepted only (a) for actions parliament derived by expanding a wildcard
    # action of CDK's grants (`s3:GetObject*`, `s3:List*`, `s3:GetBucket*`): the expansion adds
    # actions such as s3:ListAllMyBuckets that the statement's resources never match, so they are
    # not granted anyway; and (b) for cloudformation:CreateStackSet, which the Service Authorization
    # Reference scopes to `stackset/<name>:*` while parliament's bundled database still says `*`;
    # and (c) in the model package group's resource policy only, sagemaker:CreateModel on the
    # group's versions: SageMaker's documented cross-account form (the version is the resource
    # the target account creates a model from), which parliament's database does not know.
    "RESOURCE_MISMATCH": "wildcard-expansion artifacts of CDK grants, and CreateStackSet (outdated database)",
}
RESOURCE_MISMATCH_ACCEPTED = {"cloudformation:createstackset"}


def _literal_actions(document: dict) -> set[str]:
    actions = set()
    for statement in document.get("Statement", []):
        listed = statement.get("Action", [])
        actions |= {a.lower() for a in ([listed] if isinstance(listed, str) else listed)}
    return actions


def _real_mismatches(finding, document: dict, kind: str) -> list[str]:
    literal = _literal_actions(document)
    accepted = RESOURCE_MISMATCH_ACCEPTED | ({"sagemaker:createmodel"} if kind == "model-package-group" else set())
    return [
        item["action"]
        for item in finding.detail
        if item["action"].lower() in literal and item["action"].lower() not in accepted
    ]


FAILING_SEVERITIES = {"CRITICAL", "HIGH", "MEDIUM"}


def _severity(issue: str) -> str:
    return parliament.config.get(issue, {}).get("severity", "HIGH")


def test_no_unsuppressed_cdk_nag_findings_in_new_templates(ma, ma_nag) -> None:
    ours = [f for f in ma_nag if any(part in f["path"] for part in ("MultiAccount", "target-"))]
    assert ours == [], "\n".join(f"{f['rule']} {f['path']}: {f['message']}" for f in ours)


def test_nag_reports_cover_the_new_templates(ma) -> None:
    reports = {p.name for p in ma.outdir.glob("AwsSolutions-*-NagReport.csv")}
    for part in ("MultiAccountTemplate", "target-staging", "target-prod"):
        assert any(part in name for name in reports), (part, reports)


def test_every_suppression_in_new_templates_has_a_reason(ma) -> None:
    for path in ma.new_template_paths():
        for logical_id, resource in json.loads(path.read_text())["Resources"].items():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(rule.get("reason", "")) >= 10, (path.name, logical_id, rule)


def test_cfn_lint_clean_on_new_templates(ma) -> None:
    status, output = cfn_lint([*ma.new_template_paths(), ma.outdir / f"{ma.config.name}-platform.template.json"])
    assert status == 0, output


def test_parliament_finds_nothing_high_or_medium(new_policies, platform_multi_account_policies) -> None:
    policies = [*new_policies, *platform_multi_account_policies]
    assert len(policies) > 20
    problems = []
    for template, logical_id, kind, document in policies:
        for finding in analyze_policy_string(json.dumps(document)).findings:
            if finding.issue == "MALFORMED" and kind == "trust":
                continue
            if finding.issue == "RESOURCE_MISMATCH":
                mismatched = _real_mismatches(finding, document, kind)
                if mismatched:
                    problems.append(f"{template} {logical_id} ({kind}): RESOURCE_MISMATCH {mismatched}")
                continue
            if finding.issue == "UNKNOWN_PRINCIPAL":
                continue
            if _severity(finding.issue) in FAILING_SEVERITIES:
                problems.append(f"{template} {logical_id} ({kind}): {finding.issue} {finding.detail}")
    assert problems == [], "\n".join(problems)


def test_resource_policies_grant_cross_account_access_to_staging_and_prod_only(ma, new_policies) -> None:
    multi = ma.config.multi_account
    resource_policies = [
        (logical_id, kind, doc)
        for template, logical_id, kind, doc in new_policies
        if template == "product" and kind in ("policy", "key", "model-package-group")
    ]
    kinds = {kind for _, kind, _ in resource_policies}
    assert kinds == {"policy", "key", "model-package-group"}
    for logical_id, kind, document in resource_policies:
        check_grants_only(document, [ma.config.account, *multi.target_accounts], what=f"{logical_id} ({kind})")
        cross = [s for s in document["Statement"] if s.get("Sid", "").startswith("CrossAccount")]
        for statement in cross:
            check_grants_only({"Statement": [statement]}, multi.target_accounts, what=logical_id)
    # The artifact bucket's and the key's cross-account statements name exactly the two target accounts.
    granted = {
        json.dumps(s["Principal"], sort_keys=True)
        for _, _, d in resource_policies
        for s in d["Statement"]
        if s.get("Sid", "").startswith("CrossAccount")
    }
    assert (
        granted
        == {
            json.dumps({"AWS": [f"arn:aws:iam::{a}:root" for a in multi.target_accounts]}),
            json.dumps({"AWS": [f"arn:aws:iam::{a}:root" for a in reversed(multi.target_accounts)]}),
        }
        or len(granted) == 1
    )


def test_pipeline_role_may_assume_only_the_configured_target_roles(ma, platform_multi_account_policies) -> None:
    multi = ma.config.multi_account
    assumable = [
        s
        for _, _, kind, doc in platform_multi_account_policies
        for s in doc["Statement"]
        if kind != "trust" and "sts:AssumeRole" in s["Action"]
    ]
    (statement,) = assumable
    assert sorted(statement["Resource"]) == sorted(
        f"arn:aws:iam::{account}:role/{multi.target_role_name}" for account in multi.target_accounts
    )
