"""Odd paths as `-o` or as the spec are clear messages with exit code 2 (issue #15, item 3).

A symbolic link loop as the output folder (or above it) once ended in a traceback, with and
without --check; a file or a dangling link above the folder gave a misleading "File exists".
Whatever the path, nothing is written where it should not be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    """A folder of odd entries: a link loop, a file, links to a file and to nothing."""
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "file").write_text("x\n")
    (tmp_path / "to-file").symlink_to("file")
    (tmp_path / "to-nothing").symlink_to("missing")
    return tmp_path


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


ODD_OUTPUTS = {
    "loop": "a symbolic link in the path loops",
    "a": "a symbolic link in the path loops",
    "loop/out": "a symbolic link in the path loops",
    "file/out": "file is not a folder",
    "to-file/out": "to-file is not a folder",
    "to-nothing/out": "to-nothing is a symbolic link to nothing",
    "file": "is a file",  # Click's own check
    "to-file": "is a file",
}


@pytest.mark.parametrize("check", [False, True], ids=["compile", "check"])
@pytest.mark.parametrize("out", list(ODD_OUTPUTS))
def test_an_odd_output_path_is_a_usage_error(odd: Path, out: str, check: bool) -> None:
    before = entries(odd)
    code, stderr = invoke("compile", CHURN, "-t", "ir", "-o", odd / out, *["--check"] * check)
    assert code == 2, stderr
    assert ODD_OUTPUTS[out] in stderr, stderr
    assert entries(odd) == before


def test_a_dangling_link_as_the_output_is_followed(odd: Path) -> None:
    # Like a link to a folder, the link stays and its target is written (and created).
    code, stderr = invoke("compile", CHURN, "-t", "ir", "-o", odd / "to-nothing")
    assert code == 0, stderr
    assert (odd / "to-nothing").is_symlink()
    assert (odd / "missing" / "churn-scorer.ir.json").is_file()
    code, _ = invoke("compile", CHURN, "-t", "ir", "-o", odd / "to-nothing", "--check")
    assert code == 0


@pytest.mark.parametrize("command", ["validate", "graph", "compile", "diff"])
@pytest.mark.parametrize("spec", ["loop", "a", "to-nothing", "file/spec.yaml"])
def test_an_odd_spec_path_is_a_usage_error(odd: Path, command: str, spec: str) -> None:
    args: list[str | Path] = [command, odd / spec]
    if command == "compile":
        args += ["-t", "ir", "-o", odd / "out"]
    if command == "diff":
        args += [CHURN]
    code, stderr = invoke(*args)
    if command == "validate":  # reported like any spec problem; the other specs are checked
        assert code == 1, stderr
        assert "error[MS012]: cannot read the file" in stderr
    else:
        assert code == 2, stderr
        assert "Error:" in stderr
    assert not (odd / "out").exists()


def _as_ordinary_user() -> list[str]:
    """Root (CI runs as root) drops the capabilities that let it read and write anything."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run this test as root"
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def mlspec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_as_ordinary_user(), sys.executable, "-m", "mlspec.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_paths_without_permission_are_usage_errors(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    shutil.copyfile(CHURN, spec)
    spec.chmod(0)
    done = mlspec("validate", spec)
    assert done.returncode == 1, done.stderr
    assert f"{spec}:1:1: error[MS012]: cannot read the file: Permission denied" in done.stderr
    done = mlspec("diff", spec, CHURN)
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("Error: ") and str(spec) in last, done.stderr
    assert "not readable" in last or "Permission denied" in last, done.stderr
    spec.chmod(0o644)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = mlspec("compile", spec, "-t", "ir", "-o", locked / "out")
    assert done.returncode == 2, done.stderr
    assert f"Error: cannot write {locked / 'out'}: Permission denied" in done.stderr
    assert entries(locked) == []
