"""One changed line of step code changes what every pipeline target generates (so
`compile --check` in CI catches code that was not recompiled), and `mlspec diff` names it as a
code change a reviewer understands.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
STEPS = "breast_cancer/steps.py"


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """The flagship before and after a one-line change of its step code."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(FLAGSHIP, old, ignore=shutil.ignore_patterns("__pycache__"))
    assert "    wheels: " in (old / "pipeline.yaml").read_text()  # else kubeflow: MS303
    shutil.copytree(old, new)
    steps = new / STEPS
    code = steps.read_text(encoding="utf-8")
    line = "    import csv\n"
    assert code.count(line) >= 1
    steps.write_text(code.replace(line, "    import csv  # a reviewed change\n", 1), "utf-8")
    return old, new


TARGETS = ["kubeflow", "airflow", "prefect"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_changed_line_of_step_code_changes_the_output(
    copies: tuple[Path, Path], tmp_path: Path, target: str
) -> None:
    old, new = copies
    out = tmp_path / target
    assert run("compile", old / "pipeline.yaml", "-t", target, "-o", out).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stale = run("compile", new / "pipeline.yaml", "-t", target, "-o", out, "--check")
    assert stale.exit_code == 1, stale.output
    assert run("compile", new / "pipeline.yaml", "-t", target, "-o", out).exit_code == 0
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before != after


def test_diff_names_the_code_change(copies: tuple[Path, Path]) -> None:
    old, new = copies
    result = run("diff", old / "pipeline.yaml", new / "pipeline.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    [spec] = json.loads(result.stdout)["files"]
    changes = spec["changes"]
    code = [c for c in changes if "step package breast_cancer changed" in c["summary"]]
    assert {c["subject"] for c in code} == {"step ingest", "step train", "step evaluate"}
    assert all(c["risk"] == "review" for c in code)
    # train makes the model: its code change needs a MINOR bump, and the version check says so
    assert {c["bump"] for c in code} == {"minor", "pipeline"}
    assert all(STEPS in c["summary"] for c in code)
    text = run("diff", old / "pipeline.yaml", new / "pipeline.yaml").output
    assert "step package breast_cancer changed: digest " in text
    others = [c for c in changes if c not in code]
    assert [c["subject"] for c in others] == ["version"], others  # nothing else changed


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        check=True,
        capture_output=True,
    )


def test_diff_reads_each_sides_step_code_from_its_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old side of `REV:path` and `--base REV` is the code at REV, not today's; a change of
    step code alone (the YAML untouched) is found by `--base`."""
    repo = tmp_path / "repo"
    shutil.copytree(FLAGSHIP, repo / "ml", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "other").mkdir()
    (repo / "other" / "notes.txt").write_text("-\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    monkeypatch.chdir(repo)
    same = run("diff", "HEAD:ml/pipeline.yaml", "ml/pipeline.yaml")
    assert same.exit_code == 0 and same.stdout.endswith("no semantic change\n"), same.output
    steps = repo / "ml" / STEPS
    steps.write_text(
        steps.read_text(encoding="utf-8").replace("import csv\n", "import csv  #\n", 1)
    )
    monkeypatch.chdir(repo / "other")  # the packages are found beside each side, from anywhere
    by_rev = run("diff", "HEAD:ml/pipeline.yaml", "../ml/pipeline.yaml")
    assert "step package breast_cancer changed: digest " in by_rev.stdout, by_rev.output
    monkeypatch.chdir(repo)
    by_base = run("diff", "--base", "HEAD", "--format", "json")
    assert by_base.exit_code == 0, by_base.output
    # Both specs beside the changed code are compared; the monitor beside reads its watched
    # pipeline at the revision too (no MS206 for a folder that exists only in git).
    monitor, spec = json.loads(by_base.stdout)["files"]
    assert (monitor["new"], monitor["changes"]) == ("ml/monitor.yaml", [])
    assert spec["new"] == "ml/pipeline.yaml"
    summaries = [c["summary"] for c in spec["changes"]]
    assert sum("step package breast_cancer changed" in s for s in summaries) == 3, summaries
