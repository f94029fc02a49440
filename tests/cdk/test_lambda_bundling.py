"""Lambda bundling without Docker: cached by content, safe when several processes bundle at once."""
from __future__ import annotations

import threading
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


def test_concurrent_bundling_of_the_same_code_succeeds_everywhere(package, tmp_path) -> None:
    source, requirements = package
    errors: list[BaseException] = []

    def bundle(index: int) -> None:
        try:
            lambda_bundling.build_bundle(package_dirs=[source], requirements=requirements,
                                         output_dir=tmp_path / f"out{index}")
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=bundle, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
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
