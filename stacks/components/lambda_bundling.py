"""Lambda code assets bundled without Docker.

`pip install --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --python-version 3.14
--only-binary=:all:` installs the pinned dependencies for the Lambda runtime (Amazon Linux 2023, glibc
2.34) on any build machine, so `cdk synth` works where Docker does not. Bundles are cached under
`.build/lambda-bundles/<hash>`: the hash covers the requirements file, every packaged source file and
the extra files from configuration (CA bundles), so a change to any of them re-bundles and nothing else
does.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
BUNDLE_CACHE = REPO_ROOT / ".build" / "lambda-bundles"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
# Wheel platforms the runtime's glibc (2.34) runs; some wheels (ONNX Runtime) exist for 2.28 only.
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


def _source_files(package_dirs: list[Path]) -> list[Path]:
    return sorted(
        path
        for package in package_dirs
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def bundle_hash(*, package_dirs: list[Path], requirements: Path, extra_files: Mapping[str, bytes] | None = None) -> str:
    """Content hash of a bundle: requirements, every source file by relative path, and the extra files."""
    digest = hashlib.sha256(requirements.read_bytes())
    for path in _source_files(package_dirs):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    for name, content in sorted((extra_files or {}).items()):
        digest.update(f"extra:{name}:{len(content)}".encode())
        digest.update(content)
    return digest.hexdigest()


def _check_extra_names(extra_files: Mapping[str, bytes]) -> None:
    for name in extra_files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"extra Lambda file {name!r} must be a relative path inside the bundle")


def build_bundle(
    *,
    package_dirs: list[Path],
    requirements: Path,
    output_dir: Path,
    cache_dir: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> None:
    """Install the pinned requirements for the Lambda platform and copy the packages and extra files in."""
    extra_files = extra_files or {}
    _check_extra_names(extra_files)
    cache_dir = cache_dir or BUNDLE_CACHE
    cached = cache_dir / bundle_hash(package_dirs=package_dirs, requirements=requirements, extra_files=extra_files)
    if not cached.is_dir():
        # Several processes (parallel test workers, a demo beside the tests) may bundle at once:
        # each builds in its own directory, and the first complete bundle to be renamed in wins.
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{cached.name}.", dir=cache_dir))
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--requirement",
            str(requirements),
            "--target",
            str(staging),
            *(argument for platform in LAMBDA_PLATFORMS for argument in ("--platform", platform)),
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_RUNTIME.name.removeprefix("python"),
            "--only-binary=:all:",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(
                f"bundling Lambda dependencies from {requirements} failed "
                f"(pip exit {result.returncode}):\n{result.stderr[-2000:]}"
            )
        for package in package_dirs:
            shutil.copytree(package, staging / package.name, ignore=_IGNORED)
        for name, content in extra_files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(content)
        try:
            staging.rename(cached)
        except OSError:
            if not cached.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(cached, output_dir, dirs_exist_ok=True)


@jsii.implements(cdk.ILocalBundling)
class _LocalPipBundling:
    def __init__(self, *, package_dirs: list[Path], requirements: Path, extra_files: Mapping[str, bytes]) -> None:
        self._package_dirs = package_dirs
        self._requirements = requirements
        self._extra_files = extra_files

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_: object) -> bool:
        build_bundle(
            package_dirs=self._package_dirs,
            requirements=self._requirements,
            output_dir=Path(output_dir),
            extra_files=self._extra_files,
        )
        return True


def python_lambda_code(
    *,
    packages: list[str],
    requirements: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    shared_packages: list[Path] | None = None,
) -> lambda_.Code:
    """Code asset holding the named packages under `lambdas/`, their pinned dependencies and
    `extra_files` ({relative path: content}, e.g. CA bundles from the configuration).

    `shared_packages` are package directories from elsewhere in the repository (an image's package the
    function runs too, e.g. `containers/pytorch/pytorch_container`), bundled as top-level packages by the
    local bundling (the Docker fallback sees `lambdas/` only).
    """
    package_dirs = [LAMBDAS_DIR / name for name in packages] + list(shared_packages or [])
    missing = [str(path) for path in package_dirs if not (path / "__init__.py").is_file()]
    if missing:
        raise FileNotFoundError(f"Lambda packages not found (expected __init__.py in each): {missing}")
    requirements = requirements or LAMBDAS_DIR / "requirements.txt"
    extra_files = dict(extra_files or {})
    _check_extra_names(extra_files)
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=bundle_hash(package_dirs=package_dirs, requirements=requirements, extra_files=extra_files),
        bundling=cdk.BundlingOptions(
            # Used only where local bundling is impossible; the same pip command in the SAM image.
            image=LAMBDA_RUNTIME.bundling_image,
            command=[
                "bash",
                "-c",
                "pip install -r requirements.txt -t /asset-output && cp -r " + " ".join(packages) + " /asset-output/",
            ],
            local=_LocalPipBundling(package_dirs=package_dirs, requirements=requirements, extra_files=extra_files),
        ),
    )
