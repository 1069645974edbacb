"""`caching: true` on the prefect target, on the real Prefect engine: a run with the same inputs
reuses the cached result without calling the step, a changed input recomputes it, and the steps
after a reused one read its files in their own run's folder.

One subprocess runs the compiled flow several times against the worker's Prefect server
(`prefect_api`, tests/support/engines.py), its result storage in PREFECT_HOME under tmp_path;
every step appends its name to a file, which counts the calls. The process is in its own group,
killed at the end with everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlspec.backends.prefect import PrefectBackend
from mlspec.backends.prefect.flow import function_name
from mlspec.compiler import analyze_text
from mlspec.run.process import clean_env
from mlspec.runtime import embed

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: cache-demo, version: 1.0.0}
params:
  rows: {type: int, default: 3}
steps:
  make:
    python: cache_demo:make
    inputs: {rows: params.rows}
    outputs: {table: dataset}
  fit:
    python: cache_demo:fit
    caching: true
    inputs: {table: make.table}
    outputs: {model: model, size: int}
  report:
    python: cache_demo:report
    inputs: {model: fit.model, size: fit.size}
    outputs: {summary: metrics}
"""

STEPS = """\
import os


def _called(name):
    with open(os.environ["CALLS"], "a") as handle:
        handle.write(name + "\\n")


def make(rows, table):
    _called("make")
    with open(table, "w") as handle:
        handle.write("".join(f"{i}\\n" for i in range(rows)))


def fit(table, model):
    _called("fit")
    with open(table) as handle:
        lines = handle.read().splitlines()
    with open(model, "w") as handle:
        handle.write(f"model of {len(lines)} rows")
    return {"size": len(lines)}


def report(model, size, summary):
    _called("report")
    with open(model) as handle:
        text = handle.read()
    with open(summary, "w") as handle:
        handle.write(f"{text}; size {size}")
"""

# Runs the flow once per entry: {"rows": N}, or "forget" to delete the first run's folder.
DRIVER = textwrap.dedent(
    """
    import json, os, runpy, shutil, sys

    path, function, plan, root = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    flow = runpy.run_path(path, run_name="mlspec_flow")[function]
    runs = []
    for entry in plan:
        if entry == "forget":
            shutil.rmtree(os.path.join(root, "cache-demo", runs[0]["id"]))
            continue
        state = flow(**entry, return_state=True)
        run_id = str(state.state_details.flow_run_id)
        folder = os.path.join(root, "cache-demo", run_id)
        with open(os.path.join(folder, "report", "summary")) as handle:
            summary = handle.read()
        runs.append({"id": run_id, "state": state.type.value, "summary": summary})
    print("RESULT " + json.dumps(runs), flush=True)
    """
)


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_a_cached_step_is_reused_for_the_same_inputs_and_recomputed_for_new_ones(
    tmp_path: Path, prefect_api: str
) -> None:
    pipeline = analyze_text(SPEC, "pipeline.yaml").pipeline
    backend = PrefectBackend()
    assert [d for d in backend.check(pipeline) if d.severity == "error"] == []
    flow_file = tmp_path / "flow.py"
    artifacts = backend.emit(pipeline)
    [text] = [a.text for a in artifacts if a.path.endswith(".py") and "/" not in a.path]
    flow_file.write_text(text)
    for beside in artifacts:  # the runtime package the flow loads, with its caching module
        if beside.path.startswith(embed.PACKAGE_PREFIX):
            (tmp_path / beside.path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / beside.path).write_text(beside.text)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "cache_demo.py").write_text(STEPS)
    root, calls = tmp_path / "artifacts", tmp_path / "calls.txt"
    env = clean_env(
        PREFECT_HOME=str(tmp_path / "prefect"),  # its result storage: the cache records
        PREFECT_API_URL=prefect_api,
        PYTHONPATH=str(tmp_path / "code"),
        MLSPEC_ARTIFACT_ROOT=str(root),
        CALLS=str(calls),
    )
    plan = [{"rows": 3}, {"rows": 3}, {"rows": 4}, "forget", {"rows": 3}]
    command = [sys.executable, "-c", DRIVER, str(flow_file), function_name(pipeline)]
    print(f"\nstarting: the flow of cache-demo 4 times on the Prefect server at {prefect_api}")
    process = subprocess.Popen(
        [*command, json.dumps(plan), str(root)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group ended with the process
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 0, output[-6000:]
    [line] = [line for line in output.splitlines() if line.startswith("RESULT ")]
    runs = json.loads(line.removeprefix("RESULT "))
    assert [r["state"] for r in runs] == ["COMPLETED"] * 4
    assert _calls(calls) == [
        *("make", "fit", "report"),  # rows 3: computed
        *("make", "report"),  # rows 3 again: fit reused, its model read in the new run
        *("make", "fit", "report"),  # rows 4: a new input, recomputed
        *("make", "fit", "report"),  # rows 3, but the run that computed it is gone
    ]
    sizes = [3, 3, 4, 3]
    assert [r["summary"] for r in runs] == [f"model of {n} rows; size {n}" for n in sizes]
    # The reused model was copied into the second run's own folder.
    second = root / "cache-demo" / runs[1]["id"] / "fit" / "model"
    assert second.read_text() == "model of 3 rows"
    assert any((root / "cache-demo" / ".cache").iterdir())  # results under the artifact root
