"""The JUnit report of the deploy repo's staging tests, as the local run reads it.

The staging tests record what they measured as properties of their test cases
(`record_property`: MSE, latency percentiles, rows, ...), so the figures come from the report itself and
not from scraping the job's log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree


class ReportMissing(FileNotFoundError):
    """The staging tests wrote no JUnit report where expected."""


@dataclass
class StagingReport:
    """Outcome, failure message and recorded properties of each test case, by test name."""

    path: Path
    outcomes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    properties: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether there were cases and every one passed."""
        return bool(self.outcomes) and all(outcome == "passed" for outcome in self.outcomes.values())


def read_staging_report(path: Path) -> StagingReport:
    """Parse a pytest JUnit XML report (xunit1, with properties per test case)."""
    if not path.is_file():
        raise ReportMissing(f"the staging tests wrote no JUnit report at {path}")
    report = StagingReport(path)
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = "failed" if kind == "failure" else kind
                message = element.get("message") or element.text or ""
                break
        report.outcomes[name] = outcome
        if message:
            report.failures[name] = message
        report.properties[name] = {
            prop.get("name", ""): prop.get("value", "") for prop in case.findall("properties/property")
        }
    return report
