"""`make lint`: cfn-lint and checkov on every synthesized template (product templates too), and cdk-nag.

Exits non-zero on any cfn-lint error or warning, any failed checkov check and any unsuppressed
cdk-nag finding, naming the template, rule and resource of each. checkov runs from its own pinned
venv (`.venv-checkov`, see scripts/setup.sh); findings that do not apply are skipped in the
template with a reason (stacks/components/checkov.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.synth import NAG_FINDINGS_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


@dataclass
class CheckovResult:
    """Counts over the scanned templates, and each failed check (template, check ID, resource, name)."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    skips: list[dict[str, str]] = field(default_factory=list)


def checkov(templates: list[Path], *, executable: Path = CHECKOV) -> CheckovResult:
    """Run checkov (CloudFormation framework, offline) over the templates, in one process."""
    if not executable.is_file():
        raise FileNotFoundError(f"checkov is not installed at {executable}: run `make setup`")
    result = CheckovResult()
    if not templates:
        return result
    command = [str(executable), "--framework", "cloudformation", "--compact", "--skip-download", "--output", "json"]
    # Not --quiet: it leaves the skipped checks (and their reasons) out of the report.
    for template in templates:
        command += ["-f", str(template)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        raise RuntimeError(f"checkov failed: {completed.stderr[-2000:]}") from None
    for item in report if isinstance(report, list) else [report]:
        summary = item.get("summary", {})
        result.passed += summary.get("passed", 0)
        result.failed += summary.get("failed", 0)
        result.skipped += summary.get("skipped", 0)
        checks = item.get("results", {})
        result.failures += [
            {
                "template": Path(c["file_path"]).name,
                "check": c["check_id"],
                "resource": c["resource"],
                "name": c["check_name"],
            }
            for c in checks.get("failed_checks", [])
        ]
        result.skips += [
            {
                "template": Path(c["file_path"]).name,
                "check": c["check_id"],
                "resource": c["resource"],
                "reason": _reason(c),
            }
            for c in checks.get("skipped_checks", [])
        ]
    return result


def _reason(check: dict[str, Any]) -> str:
    return str((check.get("check_result") or {}).get("suppress_comment", ""))


def cfn_lint(templates: list[Path]) -> tuple[int, str]:
    """Run cfn-lint over the templates; return its exit code and output."""
    if not templates:
        return 0, ""
    # Exceptions live in each template's Metadata (see stacks/components/cfn_lint_exceptions.py);
    # passing --ignore-checks here would silently replace them.
    command = [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", "--", *map(str, templates)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", default="cdk.out")
    args = parser.parse_args(argv)
    outdir = Path(args.outdir)
    templates = sorted(outdir.glob("*.template.json"))
    if not templates:
        print(f"lint: no templates in {outdir}; run `make synth` first", file=sys.stderr)
        return 2
    status, output = cfn_lint(templates)
    print(f"lint: cfn-lint on {len(templates)} templates: {'clean' if status == 0 else 'FINDINGS'}")
    if output:
        print(output)
    scan = checkov(templates)
    print(
        f"lint: checkov on {len(templates)} templates: {scan.passed} passed, {scan.failed} failed, "
        f"{scan.skipped} skipped with a reason in the template"
    )
    for failure in scan.failures:
        print(f"  {failure['check']} {failure['template']} {failure['resource']}: {failure['name']}")
    findings = json.loads((outdir / NAG_FINDINGS_FILE).read_text())
    print(f"lint: cdk-nag AwsSolutions: {'clean' if not findings else f'{len(findings)} unsuppressed findings'}")
    for finding in findings:
        print(f"  [{finding['level']}] {finding['rule']} {finding['path']}: {finding['message']}")
    return 1 if status or findings or scan.failed else 0


if __name__ == "__main__":
    sys.exit(main())
