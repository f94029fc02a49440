"""Validate a `.gitlab-ci.yml` against GitLab's own CI schema, offline.

check-jsonschema (pinned in requirements-dev.txt) ships GitLab's schema as its built-in
`vendor.gitlab-ci`, so a clean clone validates without downloading anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def gitlab_ci_errors(path: Path) -> str:
    """What GitLab's schema finds wrong with the file ("" when it is valid)."""
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", "--output-format", "text", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()
