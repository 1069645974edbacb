"""Generated files do not depend on where the checkout is (issue #15, item 4).

The `ir` target once recorded the spec path as typed, so an absolute path made two clones of
one repository generate different bytes (and `compile --check` call one of them stale). Every
target now records the spec relative to its repository (else to the working folder, else by
name): two clones, reached by absolute paths from anywhere, and two working folders in one
clone, generate the same bytes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.backends.registry import targets
from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ["examples/breast-cancer/pipeline.yaml", "examples/churn-containers/pipeline.yaml"]
TARGETS = list(targets())


def clone(where: Path, *, git: bool) -> Path:
    """A copy of the repository's examples at `where`; with `git`, a repository of its own."""
    shutil.copytree(ROOT / "examples", where / "examples")
    if git:
        subprocess.run(["git", "init", "-q", str(where)], check=True, timeout=60)
    return where


def compile_all(spec: str | Path, target: str, out: Path) -> dict[str, bytes]:
    result = CliRunner().invoke(main, ["compile", str(spec), "-t", target, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def assert_nothing_names(files: dict[str, bytes], *folders: Path) -> None:
    for name, content in files.items():
        for folder in folders:
            assert str(folder).encode() not in content, f"{name} names {folder}"


@pytest.mark.parametrize("target", TARGETS)
def test_two_clones_generate_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    a = clone(tmp_path / "a" / "deep" / "checkout", git=True)
    b = clone(tmp_path / "b", git=True)
    monkeypatch.chdir(tmp_path)  # in neither clone: the paths are absolute
    for spec in SPECS:
        first = compile_all(a / spec, target, tmp_path / "out-a")
        second = compile_all(b / spec, target, tmp_path / "out-b")
        assert first == second
        assert_nothing_names(first, a, tmp_path)


@pytest.mark.parametrize("target", ["ir", "airflow", "prefect"])
def test_the_working_folder_in_a_clone_does_not_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    repo = clone(tmp_path / "repo", git=True)
    spec = SPECS[0]
    monkeypatch.chdir(repo)
    from_root = compile_all(spec, target, tmp_path / "out-root")
    monkeypatch.chdir(repo / "examples")
    from_below = compile_all(Path(spec).relative_to("examples"), target, tmp_path / "out-below")
    assert from_root == from_below
    header = b"from examples/breast-cancer/pipeline.yaml"
    assert target == "ir" or any(header in content for content in from_root.values())


@pytest.mark.parametrize("target", ["ir", "airflow", "prefect"])
def test_two_copies_outside_git_generate_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    copies = [clone(tmp_path / "one", git=False), clone(tmp_path / "x" / "two", git=False)]
    found = []
    for copy in copies:
        monkeypatch.chdir(copy)  # the working folder is the copy: paths relative to it
        found.append(compile_all(copy / SPECS[0], target, tmp_path / f"out-{copy.name}"))
        assert_nothing_names(found[-1], copy)
    assert found[0] == found[1]
