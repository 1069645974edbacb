"""Step caching's runtime part: cache keys, content digests, and reusing another run's files.

The engine's side (Prefect storing and returning results by key) runs for real in
tests/backends/test_prefect_caching.py.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from mlspec.runtime import cache, tasks

STEPS = {
    "make": {
        "kind": "python",
        "function": "cache_demo:make",
        "inputs": {"rows": {"param": "rows", "type": "int"}},
        "env": {"MODE": {"param": "mode"}},
        "outputs": {"table": "dataset", "count": "int"},
    },
    "score": {
        "kind": "container",
        "image": "busybox:1.36",
        "command": [["sh"]],
        "args": [],
        "inputs": {"table": {"artifact": ["make", "table"]}},
        "env": {},
        "secrets": {},
        "resources": {},
        "outputs": {"score": "float", "plot": "artifact"},
    },
}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tasks.TaskRun:
    code = tmp_path / "code"
    code.mkdir()
    (code / "cache_demo.py").write_text("def make(rows, table):\n    return {'count': rows}\n")
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.delenv("MLSPEC_ARTIFACT_ROOT", raising=False)
    sys.modules.pop("cache_demo", None)
    return tasks.TaskRun(
        pipeline="demo",
        spec_version="1.0.0",
        artifact_root=str(tmp_path / "root"),
        tracking_uri=None,
        registered_model=None,
        steps=STEPS,
        gates={},
        promotions={},
        run_id="run-1",
        params={"rows": 3, "mode": "fast"},
        results={}.__getitem__,
    )


def _write(run: tasks.TaskRun, step: str, name: str, text: str) -> None:
    Path(tasks.output_path(run.artifact_root, run.pipeline, run.run_id, step, name)).write_text(
        text
    )


def test_the_cache_folder_sits_beside_the_runs(run: tasks.TaskRun, tmp_path: Path) -> None:
    assert cache.cache_folder(run) == str(tmp_path / "root" / "demo" / ".cache")


def test_a_key_holds_values_env_and_code_but_not_the_run(
    run: tasks.TaskRun, tmp_path: Path
) -> None:
    key = cache.cache_key(run, "make")
    assert key["inputs"] == {"rows": 3} and key["env"] == {"MODE": "fast"}
    assert key == cache.cache_key(dataclasses.replace(run, run_id="run-2"), "make")
    for params in ({"rows": 4, "mode": "fast"}, {"rows": 3, "mode": "slow"}):
        assert key != cache.cache_key(dataclasses.replace(run, params=params), "make")
    (tmp_path / "code" / "cache_demo.py").write_text("def make(rows, table):\n    return {}\n")
    sys.modules.pop("cache_demo", None)
    assert cache.cache_key(run, "make")["code"] != key["code"]  # the step's module changed


def test_an_artifact_input_counts_by_content_not_by_its_run_folder(run: tasks.TaskRun) -> None:
    other = dataclasses.replace(run, run_id="run-2")
    _write(run, "make", "table", "a\n1\n")
    _write(other, "make", "table", "a\n1\n")
    assert cache.cache_key(run, "score") == cache.cache_key(other, "score")
    _write(other, "make", "table", "a\n2\n")
    assert cache.cache_key(run, "score") != cache.cache_key(other, "score")


def test_a_folder_digest_covers_names_and_contents(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "weights").write_text("1")
    first = cache.content_digest(str(folder))
    (folder / "sub" / "weights").rename(folder / "sub" / "bias")
    assert cache.content_digest(str(folder)) != first


def test_a_reused_container_step_gets_every_file_it_wrote(run: tasks.TaskRun) -> None:
    _write(run, "score", "score", "0.9")  # a container writes its scalars as files too
    _write(run, "score", "plot", "png")
    done = {"run_id": run.run_id, "files": cache.written_files(run, "score")}
    assert done["files"] == ["score", "plot"]
    later = dataclasses.replace(run, run_id="run-2")
    assert cache.reuse_outputs(later, "score", done)
    assert tasks.scalar_output(later, "score", "score") == 0.9
    path = tasks.artifact_path(later.artifact_root, "demo", "run-2", "score", "plot")
    assert Path(path).read_text() == "png"


def test_nothing_is_reused_when_the_computing_run_is_gone(run: tasks.TaskRun) -> None:
    _write(run, "score", "score", "0.9")
    done = {"run_id": run.run_id, "files": ["score", "plot"]}  # plot was deleted since
    later = dataclasses.replace(run, run_id="run-2")
    assert not cache.reuse_outputs(later, "score", done)
    path = tasks.artifact_path(later.artifact_root, "demo", "run-2", "score", "score")
    assert not Path(path).exists()


def _looped(run: tasks.TaskRun, run_id: str, index: int | None, items: list) -> tasks.TaskRun:
    """`run` with `make` in a loop over `items` and `join` reading its tables as a fan-in; as
    the task of iteration `index` (None: outside the loop)."""
    steps = {
        "make": {**STEPS["make"], "inputs": {}, "loop": "make"},
        "join": {
            **STEPS["make"],
            "inputs": {"tables": {"fan_in": {"artifact": ["make", "table"]}}},
            "outputs": {"joined": "dataset"},
        },
    }
    iteration = None if index is None else tasks.Iteration("make", index, items[index])
    loops = {"make": {"value": items}}
    return dataclasses.replace(run, steps=steps, run_id=run_id, loops=loops, iteration=iteration)


def test_an_iteration_is_reused_only_for_its_own_element(run: tasks.TaskRun) -> None:
    """Two elements with the same inputs have their own keys; a cached iteration's files are
    copied from the index it had into the index its element has now."""
    eu, us = _looped(run, "run-1", 0, ["eu", "us"]), _looped(run, "run-1", 1, ["eu", "us"])
    assert cache.cache_key(eu, "make") != cache.cache_key(us, "make")
    Path(tasks.run_output_path(eu, "make", "table")).write_text("eu rows")
    Path(tasks.run_output_path(us, "make", "table")).write_text("us rows")
    done = cache.outcome(us, "make", {"count": 3})
    assert done == {"run_id": "run-1", "index": 1, "result": {"count": 3}, "files": ["table"]}
    later = _looped(run, "run-2", 0, ["us"])  # the same element, now first
    assert cache.cache_key(later, "make") == cache.cache_key(us, "make")
    assert cache.reuse_outputs(later, "make", done)
    assert Path(tasks.run_path(later, "make", "table")).read_text() == "us rows"


def test_a_fan_in_of_files_is_keyed_by_their_contents(run: tasks.TaskRun) -> None:
    first, second = _looped(run, "run-1", None, ["eu"]), _looped(run, "run-2", None, ["eu"])
    for each in (first, second):
        Path(tasks.run_path(each, "make", "table", 0)).parent.mkdir(parents=True)
        Path(tasks.run_path(each, "make", "table", 0)).write_text("eu rows")
    assert cache.cache_key(first, "join") == cache.cache_key(second, "join")
    Path(tasks.run_path(second, "make", "table", 0)).write_text("other rows")
    assert cache.cache_key(first, "join") != cache.cache_key(second, "join")
