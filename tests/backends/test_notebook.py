"""Notebook steps compiled: the notebook ships as it is on every target, pinned by its digest;
a changed notebook changes every output (`compile --check` catches it) and `mlspec diff` names
it (at a git revision too); its path and text stay text in the generated Python.

They run on the three engines in test_notebook_engines.py, and nbclient runs them in
tests/runtime/test_notebook.py.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner, Result

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "specs" / "valid"
PREPARE = "notebooks/prepare.ipynb"
SCORE = 'notebooks/score "it\'s".ipynb'
TARGETS = ["kubeflow", "airflow", "prefect"]


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _copy(folder: Path) -> Path:
    shutil.copytree(VALID / "notebooks", folder / "notebooks")
    shutil.copy(VALID / "notebook.yaml", folder / "notebook.yaml")
    return folder / "notebook.yaml"


def _edit(notebook: Path) -> None:
    """A reviewed change: the CSV gets one more column."""
    content = nbformat.read(notebook, as_version=4)
    content.cells[2].source = content.cells[2].source.replace("'score'", "'score', 'extra'")
    nbformat.write(content, notebook)


def _written(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("target", TARGETS)
def test_a_changed_notebook_changes_the_output(tmp_path: Path, target: str) -> None:
    spec = _copy(tmp_path / "spec")
    out = tmp_path / "out"
    assert run("compile", spec, "-t", target, "-o", out).exit_code == 0
    before = _written(out)
    _edit(spec.parent / PREPARE)
    stale = run("compile", spec, "-t", target, "-o", out, "--check")
    assert stale.exit_code == 1, stale.output
    assert run("compile", spec, "-t", target, "-o", out).exit_code == 0
    assert _written(out) != before


@pytest.mark.parametrize("target", ["airflow", "prefect"])
def test_the_notebook_ships_beside_the_dag_or_flow_pinned(tmp_path: Path, target: str) -> None:
    out = tmp_path / "out"
    assert run("compile", VALID / "notebook.yaml", "-t", target, "-o", out).exit_code == 0
    for path in (PREPARE, SCORE):
        data = (VALID / path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        shipped = out / f"mlspec_code_{digest[:12]}" / path.rpartition("/")[2]
        assert shipped.read_bytes() == data
        # the generated module names the file and its digest; the runtime checks it before use
        module = next(p for p in out.glob("*.py") if "STEPS" in p.read_text())
        assert json.dumps(digest) in module.read_text() or repr(digest) in module.read_text()


def _component_sources(ir: dict) -> dict[str, str]:
    """Each step's lightweight component source, as the KFP IR holds it."""
    found = {}
    for name, executor in ir["deploymentSpec"]["executors"].items():
        command = executor.get("container", {}).get("command", [])
        if command and "_mlspec_notebook" in command[-1]:
            found[name] = command[-1]
    return found


def test_kubeflow_carries_the_notebook_and_its_path_as_text(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("compile", VALID / "notebook.yaml", "-t", "kubeflow", "-o", out).exit_code == 0
    # The pipeline spec; a second document holds kfp-kubernetes settings (the step's timeout).
    ir, *_ = yaml.safe_load_all((out / "notebook-metric.kfp.yaml").read_text())
    sources = _component_sources(ir)
    assert sorted(sources) == ["exec-prepare", "exec-score"]
    tree = ast.parse(sources["exec-score"])
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "score")
    values = {
        t.id: ast.literal_eval(n.value)
        for n in ast.walk(function)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name) and t.id == "_mlspec_notebook"
    }
    assert values == {"_mlspec_notebook": (VALID / SCORE).read_text(encoding="utf-8")}
    call = next(
        n
        for n in ast.walk(function)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "run_notebook"
    )
    assert ast.literal_eval(call.args[1]) == SCORE
    executor = ir["deploymentSpec"]["executors"]["exec-score"]["container"]
    assert "nbclient==0.11.0" in " ".join(executor["command"])
    assert "ipykernel==7.4.0" in " ".join(executor["command"])
    outputs = ir["components"]["comp-score"]["outputDefinitions"]
    assert "mlspec_executed_notebook" in outputs["artifacts"]


def test_diff_names_the_notebook_change(tmp_path: Path) -> None:
    old, new = _copy(tmp_path / "old"), _copy(tmp_path / "new")
    _edit(new.parent / PREPARE)
    result = run("diff", old, new, "--format", "json")
    assert result.exit_code == 0, result.output
    [spec] = json.loads(result.stdout)["files"]
    code = [c for c in spec["changes"] if c["subject"] == "step prepare"]
    assert [c["summary"].startswith(f"notebook {PREPARE} changed: digest ") for c in code] == [True]
    assert code[0]["risk"] == "review"
    assert [c["subject"] for c in spec["changes"] if c not in code] == ["version"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        check=True,
        capture_output=True,
    )


def test_diff_reads_the_notebook_at_the_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    _copy(repo / "ml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    monkeypatch.chdir(repo)
    same = run("diff", "HEAD:ml/notebook.yaml", "ml/notebook.yaml")
    assert same.exit_code == 0 and same.stdout.endswith("no semantic change\n"), same.output
    _edit(repo / "ml" / PREPARE)
    changed = run("diff", "HEAD:ml/notebook.yaml", "ml/notebook.yaml")
    assert f"notebook {PREPARE} changed: digest " in changed.stdout, changed.output
