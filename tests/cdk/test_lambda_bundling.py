"""Lambda bundling without Docker: cached by content, safe when several processes bundle at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stacks.components import lambda_bundling


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setattr(lambda_bundling, "BUNDLE_CACHE", tmp_path / "cache")
    monkeypatch.setattr(lambda_bundling, "REPO_ROOT", tmp_path)
    source = tmp_path / "my_handler"
    source.mkdir()
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def main(event, context):\n    return event\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing to install\n")
    return source, requirements


def test_bundle_holds_the_package_and_is_reused_until_its_source_changes(package, tmp_path) -> None:
    source, requirements = package
    first = lambda_bundling.bundle_hash(package_dirs=[source], requirements=requirements)
    lambda_bundling.build_bundle(package_dirs=[source], requirements=requirements, output_dir=tmp_path / "out")
    assert (tmp_path / "out" / "my_handler" / "handler.py").is_file()
    assert (tmp_path / "cache" / first).is_dir()
    (source / "handler.py").write_text("def main(event, context):\n    return None\n")
    assert lambda_bundling.bundle_hash(package_dirs=[source], requirements=requirements) != first


def test_concurrent_bundling_of_the_same_code_succeeds_everywhere(package, tmp_path, repo_root) -> None:
    """Parallel test workers and a demo run bundle as separate processes, into one cache."""
    source, requirements = package
    script = (
        "import sys; from pathlib import Path; from stacks.components import lambda_bundling as b; "
        "b.REPO_ROOT = Path(sys.argv[4]); "
        "b.build_bundle(package_dirs=[Path(sys.argv[1])], requirements=Path(sys.argv[2]), "
        "output_dir=Path(sys.argv[3]), cache_dir=Path(sys.argv[4]) / 'cache')"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(source), str(requirements), str(tmp_path / f"out{i}"), str(tmp_path)],
            cwd=repo_root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert all((tmp_path / f"out{i}" / "my_handler" / "handler.py").is_file() for i in range(3))
    leftovers = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(leftovers) == 1, leftovers


def test_a_failing_pip_install_names_the_requirements_file(package, tmp_path) -> None:
    source, requirements = package
    requirements.write_text("this-package-does-not-exist-anywhere==0.0.0\n")
    with pytest.raises(RuntimeError, match=r"bundling Lambda dependencies from .*requirements.txt failed"):
        lambda_bundling.build_bundle(package_dirs=[source], requirements=requirements, output_dir=tmp_path / "out")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_packages_are_named() -> None:
    with pytest.raises(FileNotFoundError, match="no_such_lambda"):
        lambda_bundling.python_lambda_code(packages=["no_such_lambda"])
