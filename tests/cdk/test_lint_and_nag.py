"""Every synthesized template is cfn-lint clean and cdk-nag AwsSolutions clean."""

from __future__ import annotations

import json

import pytest

from tooling.lint import CheckovResult, cfn_lint, checkov

pytestmark = pytest.mark.xdist_group("cdk")


def test_no_unsuppressed_cdk_nag_findings(nag) -> None:
    assert nag == [], "\n".join(f"{f['rule']} {f['path']}: {f['message']}" for f in nag)


def test_nag_reports_cover_the_product_template_too(synthesized) -> None:
    reports = {p.name for p in synthesized.outdir.glob("AwsSolutions-*-NagReport.csv")}
    assert any("GitLabProjectTemplate" in name for name in reports), reports
    assert any("platform" in name for name in reports), reports


def test_cfn_lint_clean_on_every_template(synthesized) -> None:
    templates = sorted(synthesized.outdir.glob("*.template.json"))
    assert any(t.name.endswith(".product.template.json") for t in templates)
    status, output = cfn_lint(templates)
    assert status == 0, output


def test_every_suppression_has_a_reason(synthesized) -> None:
    for template in synthesized.outdir.glob("*.template.json"):
        for logical_id, resource in json.loads(template.read_text()).get("Resources", {}).items():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(rule.get("reason", "")) >= 10, f"{template.name} {logical_id} {rule}"


@pytest.fixture(scope="module")
def scan(synthesized) -> CheckovResult:
    """checkov over every synthesized template, product templates included."""
    templates = sorted(synthesized.outdir.glob("*.template.json"))
    assert sum(t.name.endswith(".product.template.json") for t in templates) == 2
    return checkov(templates)


def test_checkov_fails_nothing_on_every_template_and_every_skip_has_a_reason(scan: CheckovResult) -> None:
    assert scan.failures == [], "\n".join(f"{f['check']} {f['template']} {f['resource']}" for f in scan.failures)
    assert scan.passed > 300
    assert len(scan.skips) == scan.skipped > 0
    for skip in scan.skips:
        assert len(skip["reason"]) >= 20, skip


def test_every_checkov_skip_is_needed(synthesized, scan: CheckovResult, tmp_path) -> None:
    """Without the skips, checkov fails exactly the skipped checks: no skip hides a check that passes."""
    stripped = []
    for template in sorted(synthesized.outdir.glob("*.template.json")):
        document = json.loads(template.read_text())
        for resource in document.get("Resources", {}).values():
            resource.get("Metadata", {}).pop("checkov", None)
        (copy := tmp_path / template.name).write_text(json.dumps(document))
        stripped.append(copy)

    failures = checkov(stripped).failures

    assert sorted((f["template"], f["check"], f["resource"]) for f in failures) == sorted(
        (s["template"], s["check"], s["resource"]) for s in scan.skips
    )


def test_checkov_reports_a_finding_that_is_not_skipped(synthesized, tmp_path) -> None:
    """The scan is real: an unencrypted queue without a skip fails."""
    template = tmp_path / "bad.template.json"
    template.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}))

    scan = checkov([template])

    assert {failure["check"] for failure in scan.failures} >= {"CKV_AWS_27"}
