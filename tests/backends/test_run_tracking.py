"""`mlspec run` and lineage: the run's tasks get the spec's git commit ($MLSPEC_GIT_COMMIT), and
the summary says when tracking was incomplete, from the TRACKING_LINE lines the tasks logged.

The engine here is a stand-in registered like any target's: it runs `sh -c` through the same
streaming every engine uses (run/process.py), so the run's log is written as a real engine's is,
each line behind an engine's own prefix."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlspec.backends import registry
from mlspec.backends.registry import Engine, Target
from mlspec.compiler import analyze_file
from mlspec.run import RunReport, RunRequest, run_pipeline
from mlspec.run.engines import EngineResult, EngineRun, git_commit
from mlspec.run.process import clean_env
from mlspec.run.summary import render, tracking_problems
from mlspec.runtime.lineage import TRACKING_LINE

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: tiny, version: 1.0.0}
steps:
  make:
    python: tiny.steps:make
    outputs: {n: int}
"""


def tracking(task: str, recorded: bool, problem: str | None) -> str:
    return TRACKING_LINE + json.dumps({"task": task, "recorded": recorded, "problem": problem})


# What the stand-in engine's tasks print, as Prefect's log prefixes them.
LOGGED = [
    "12:00:00.000 | INFO    | Task run 'mlspec_track-0' - "
    + tracking("mlspec_track", False, "registry http://127.0.0.1:9: connection refused"),
    "12:00:01.000 | INFO    | Task run 'make-0' - " + tracking("make", True, None),
    "12:00:02.000 | INFO    | Task run 'mlspec_close-0' - "
    + tracking("mlspec_close", False, "no run to close"),
    "12:00:03.000 | INFO    | Task run 'make-0' - MLSPEC-TRACKING {garbled",
]


def sh_engine(run: EngineRun) -> EngineResult:
    script = "; ".join(f"printf '%s\\n' {_quote(line)}" for line in LOGGED)
    script += '; echo "commit=${MLSPEC_GIT_COMMIT:-none}"'
    env = clean_env(**run.tracking_env)
    code, _ = run.stream(["sh", "-c", script], env, lambda line: False)
    return EngineResult(code == 0, "sh-1", {"make": "completed"}, "done")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    target = Target("sh", "a stand-in engine", "x:y", engine=Engine(f"{__name__}:sh_engine"))
    found = registry.get
    monkeypatch.setattr(registry, "get", lambda name: target if name == "sh" else found(name))


def run_spec(spec: Path, state: Path) -> tuple[RunReport, str]:
    pipeline = analyze_file(str(spec)).pipeline
    request = RunRequest(pipeline, spec, "sh", {}, echo=lambda line: None)
    report = run_pipeline(request, state)
    return report, report.log.read_text(encoding="utf-8")


def test_summary_says_tracking_was_incomplete(stand_in: None, tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    report, _ = run_spec(spec, tmp_path / "state")
    problems = [
        "mlspec_track: registry http://127.0.0.1:9: connection refused",
        "mlspec_close: no run to close",
    ]
    assert report.tracking_incomplete == problems
    assert report.as_json()["tracking_incomplete"] == problems
    assert f"  note      tracking incomplete: {'; '.join(problems)}\n" in render(report)


def test_a_complete_run_says_nothing_of_tracking(tmp_path: Path) -> None:
    lines = [LOGGED[1], LOGGED[3], "gate x (model): PASSED", "MLSPEC-TRACKING"]
    assert tracking_problems(lines) == []


def test_the_runs_tasks_get_the_specs_commit(stand_in: None, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    git(repo, "init", "-q")
    spec = repo / "specs" / "tiny.yaml"
    spec.write_text(SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "spec")
    head = git(repo, "rev-parse", "HEAD")
    _, log = run_spec(spec, tmp_path / "state")
    assert f"commit={head}\n" in log
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "tiny.yaml").write_text(SPEC)
    _, log = run_spec(outside / "tiny.yaml", tmp_path / "state")
    assert "commit=none\n" in log


def test_git_commit(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None  # no repository
    git(tmp_path, "init", "-q")
    assert git_commit(tmp_path) is None  # no commit yet
    (tmp_path / "f").write_text("x")
    git(tmp_path, "add", "f")
    git(tmp_path, "commit", "-qm", "f")
    (tmp_path / "sub").mkdir()
    assert git_commit(tmp_path / "sub") == git(tmp_path, "rev-parse", "HEAD")
