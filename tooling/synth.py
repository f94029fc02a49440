"""`make synth`: synthesize every stack and product template, and collect cdk-nag findings.

Findings (unsuppressed AwsSolutions errors and warnings) are written to `<outdir>/nag-findings.json`
for `make lint`; synthesis itself fails only on configuration or construct errors.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from stacks.app_builder import DEFAULT_CONFIG, build_app
from stacks.config import ConfigError, load_config

NAG_FINDINGS_FILE = "nag-findings.json"


def nag_findings(outdir: str | Path) -> list[dict[str, str]]:
    """Unsuppressed cdk-nag AwsSolutions findings of every stack, ProductStacks included.

    cdk-nag writes one `AwsSolutions-*-NagReport.csv` per template; suppressed rules appear
    there as `Suppressed`, so every `Non-Compliant` row is a finding to fix or justify.
    """
    findings = []
    for report in sorted(Path(outdir).glob("AwsSolutions-*-NagReport.csv")):
        with report.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["Compliance"] == "Non-Compliant":
                    findings.append(
                        {
                            "rule": row["Rule ID"],
                            "path": row["Resource ID"],
                            "level": row["Rule Level"],
                            "message": row["Rule Info"],
                        }
                    )
    return findings


def synth(*, config_path: str, outdir: str) -> tuple[list[Path], list[dict[str, str]]]:
    """Synthesize into `outdir`; return the template files written and the nag findings."""
    build_app(load_config(config_path), outdir=outdir).synth()
    findings = nag_findings(outdir)
    Path(outdir, NAG_FINDINGS_FILE).write_text(json.dumps(findings, indent=2))
    return sorted(Path(outdir).glob("*.template.json")), findings


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--outdir", default="cdk.out")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        templates, findings = synth(config_path=args.config, outdir=args.outdir)
    except ConfigError as error:
        print(f"synth: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    for template in templates:
        print(f"synth: wrote {template}")
    print(
        f"synth: {len(templates)} templates in {time.monotonic() - started:.1f}s; "
        f"{len(findings)} unsuppressed cdk-nag findings (see `make lint`)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
