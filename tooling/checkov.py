"""checkov over synthesized templates, from its own pinned virtualenv (scripts/setup-checkov.sh).

`python -m tooling.checkov T.template.json ...` prints the failed checks; exit 1 if any failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkov_binary() -> str:
    """Path of checkov, installing it on first use (idempotent)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "setup-checkov.sh")], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return result.stdout.strip().splitlines()[-1]


def failed_checks(templates: list[Path]) -> list[dict[str, str]]:
    """Failed checkov checks of the CloudFormation templates (skips in resource metadata honoured)."""
    failures: list[dict[str, str]] = []
    for template in templates:
        command = [checkov_binary(), "-f", str(template), "--framework", "cloudformation", "--quiet", "--compact"]
        result = subprocess.run([*command, "-o", "json", "--skip-download"], capture_output=True, text=True)
        report = json.loads(result.stdout) if result.stdout.strip() else {}
        for check in report.get("results", {}).get("failed_checks", []):
            failures.append(
                {
                    "template": template.name,
                    "check": check["check_id"],
                    "resource": check["resource"],
                    "name": check["check_name"],
                }
            )
    return failures


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    templates = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])]
    failures = failed_checks(templates)
    for failure in failures:
        print(f"{failure['template']}: {failure['check']} {failure['resource']}: {failure['name']}")
    print(f"checkov: {len(templates)} templates, {len(failures)} failed checks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
