"""Package the model repository for its MLOps pipeline.

Writes into --output:
- `model-source.tar.gz`: the files the model image is built from (everything `git ls-files` would
  list, without the CI's own build output);
- `manifest.json`: `{"files": {path: sha256}}` of those files: the MLOps pipeline compares it with the
  manifest of the newest image to decide the semantic version;
- `package.env`: `PACKAGE_JOB_ID=<this job>` (a dotenv report the trigger job passes downstream).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
from pathlib import Path

EXCLUDED_PARTS = {".git", "build", "__pycache__", ".pytest_cache", ".gitlab-ci-local", ".venv"}


def source_files(root: Path) -> list[Path]:
    """The repository's files (sorted, relative), without build output and caches."""
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and not EXCLUDED_PARTS & set(path.relative_to(root).parts) and path.suffix != ".pyc"
    )


def manifest(root: Path, files: list[Path]) -> dict[str, dict[str, str]]:
    """SHA-256 of every file, by POSIX path."""
    return {"files": {path.as_posix(): hashlib.sha256((root / path).read_bytes()).hexdigest() for path in files}}


def package(root: Path, output: Path, *, job_id: str) -> dict[str, dict[str, str]]:
    """Write the archive, the manifest and the dotenv report; return the manifest."""
    output.mkdir(parents=True, exist_ok=True)
    files = source_files(root)
    with tarfile.open(output / "model-source.tar.gz", "w:gz") as archive:
        for path in files:
            archive.add(root / path, arcname=path.as_posix(), recursive=False)
    result = manifest(root, files)
    (output / "manifest.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (output / "package.env").write_text(f"PACKAGE_JOB_ID={job_id}\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("build"))
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    job_id = os.environ.get("CI_JOB_ID", "")
    if not job_id.isdigit():
        print("package: CI_JOB_ID is not set: run this as a GitLab CI job", file=sys.stderr)
        return 1
    result = package(args.root.resolve(), args.output, job_id=job_id)
    print(f"package: {len(result['files'])} files in {args.output / 'model-source.tar.gz'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
