"""`make generate`: files generated from the platform's single sources of truth.

A seed repository must stand alone in GitLab, so it carries copies of a few platform facts; those
copies are generated here and `tests/cdk/test_generated_files.py` fails when one is stale.
`python -m tooling.generated --check` lists stale files without writing (exit 1 if any).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from stacks.instance_families import render_seed_module

REPO_ROOT = Path(__file__).resolve().parents[1]

GENERATED: dict[str, Callable[[], str]] = {
    "seedcode/model-build/pipelines/instance_families.py": render_seed_module,
    "seedcode/model-deploy/instance_families.py": render_seed_module,
}


def stale_files(root: Path = REPO_ROOT) -> list[str]:
    """Generated files whose content differs from what their source renders today."""
    return [path for path, render in GENERATED.items() if _read(root / path) != render()]


def write_all(root: Path = REPO_ROOT) -> list[str]:
    """Write every stale generated file; return the paths written."""
    written = stale_files(root)
    for path in written:
        (root / path).write_text(GENERATED[path]())
    return written


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="list stale files, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"generate: {path} is stale; run `make generate`", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all():
        print(f"generate: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
