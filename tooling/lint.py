"""`make lint`: cfn-lint every synthesized template (product templates too) and report cdk-nag.

Exits non-zero on any cfn-lint error or warning and on any unsuppressed cdk-nag finding, naming
the template, rule and resource of each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tooling.synth import NAG_FINDINGS_FILE


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
    findings = json.loads((outdir / NAG_FINDINGS_FILE).read_text())
    print(f"lint: cdk-nag AwsSolutions: {'clean' if not findings else f'{len(findings)} unsuppressed findings'}")
    for finding in findings:
        print(f"  [{finding['level']}] {finding['rule']} {finding['path']}: {finding['message']}")
    return 1 if status or findings else 0


if __name__ == "__main__":
    sys.exit(main())
