"""Lineage on the prefect target: a pipeline with a registry is an MLflow run per flow run.

The flow carries the run's identity and datasets as data, opens the MLflow run in `mlspec_track`
before any step, records the steps in `mlspec_lineage` and closes the run in `mlspec_close`, in
the flow's `finally`. The slow test runs a small spec on the real Prefect engine (the worker's
server, `prefect_api`) against a real SQLite MLflow store, three times: passing, blocked by a
gate, failed by a step; one subprocess, in its own process group, killed at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import runpy
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import generated, hostile

from mlspec.backends import lineage
from mlspec.backends.prefect import PrefectBackend
from mlspec.backends.prefect.flow import file_name, function_name
from mlspec.compiler import analyze_text
from mlspec.run.process import clean_env
from mlspec.runtime import lineage as names

BACKEND = PrefectBackend()

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: lineage-demo, version: 2.1.0}
params:
  rows: {type: int, default: 5}
  min_score: {type: float, default: 0.5}
  fail: {type: bool, default: false}
steps:
  make:
    python: lineage_demo:make
    inputs: {rows: params.rows}
    outputs: {table: dataset, unread: dataset}
  fit:
    python: lineage_demo:fit
    inputs: {table: make.table, fail: params.fail}
    outputs: {model: model, score: float, kind: str}
gates:
  enough_rows:
    dataset: make.table
    checks:
      - row_count: {min: 2}
  good:
    require:
      - {metric: fit.score, min: params.min_score}
registry:
  mlflow: {registered_model: lineage-demo}
  model: fit.model
  promote:
    - {alias: challenger, after: [enough_rows, good]}
"""

STEPS = """\
def make(rows, table, unread):
    with open(table, "w") as handle:
        handle.write("x,y\\n" + "".join(f"{i},{i % 2}\\n" for i in range(rows)))
    with open(unread, "w") as handle:
        handle.write("nobody reads this\\n")


def fit(table, fail, model):
    if fail:
        raise RuntimeError("fit failed on purpose")
    with open(table) as handle:
        rows = len(handle.read().splitlines()) - 1
    with open(model, "w") as handle:
        handle.write(f"model of {rows} rows")
    return {"score": 0.75, "kind": "toy"}
"""

# Runs the flow once per entry of the plan: its parameters, and the tracking URI it sees. Prints
# RUN_MARK before each run, then each flow run's id and state.
RUN_MARK = "LINEAGE-TEST-RUN"
DRIVER = textwrap.dedent(
    """
    import json, os, runpy, sys

    path, function, plan, mark = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    flow = runpy.run_path(path, run_name="mlspec_flow")[function]
    runs = []
    for params, uri in plan:
        print(mark, flush=True)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        state = flow(**params, return_state=True)
        runs.append({"id": str(state.state_details.flow_run_id), "state": state.name})
    print("RESULT " + json.dumps(runs), flush=True)
    """
)


def _emit(text: str, name: str = "pipeline.yaml") -> tuple[object, list]:
    """The pipeline, and the flow's files: the flow, prefect.yaml and the runtime package."""
    pipeline = analyze_text(text, name).pipeline
    assert [d for d in BACKEND.check(pipeline) if d.severity == "error"] == []
    return pipeline, [a for a in BACKEND.emit(pipeline) if not a.path.startswith("rollout/")]


def _write(artifacts: list, folder: Path) -> None:
    for artifact in artifacts:
        (folder / artifact.path).parent.mkdir(parents=True, exist_ok=True)
        (folder / artifact.path).write_text(artifact.text)


def _flow_text(pipeline: object, artifacts: list) -> str:
    return next(a.text for a in artifacts if a.path == file_name(pipeline))


# -- the flow file ----------------------------------------------------------------------------


def test_a_tracked_flow_carries_its_lineage_as_data_and_loads(tmp_path: Path) -> None:
    """Prefect's loader takes the flow; IDENTITY and DATASETS are the compiler's, as data."""
    from prefect.flows import load_flow_from_entrypoint

    pipeline, artifacts = _emit(SPEC)
    _write(artifacts, tmp_path)
    path = tmp_path / file_name(pipeline)
    flow = load_flow_from_entrypoint(f"{path}:{function_name(pipeline)}")
    assert flow.name == "lineage-demo"
    module = runpy.run_path(str(path), run_name="mlspec_flow")
    assert module["IDENTITY"] == lineage.identity(pipeline)
    assert module["IDENTITY"]["spec_sha256"] == hashlib.sha256(SPEC.encode()).hexdigest()
    assert module["DATASETS"] == {"make.table": ["enough_rows", "fit"], "make.unread": []}
    tasks = (names.TRACK_TASK, names.LINEAGE_TASK, names.CLOSE_TASK)
    assert (module["TRACK_TASK"], module["LINEAGE_TASK"], module["CLOSE_TASK"]) == tasks


def test_spec_text_in_the_lineage_stays_text() -> None:
    """The spec's file name and its pipeline's text reach IDENTITY; none of it becomes code."""

    def flow(text: str) -> str:
        spec = hostile.spec(text).replace('"default": ' + json.dumps(text), '"default": "s"', 1)
        pipeline, artifacts = _emit(spec, f"{text}.yaml")
        return _flow_text(pipeline, artifacts)

    harmful, harmless = flow(hostile.HOSTILE), flow(hostile.HARMLESS)
    assert generated.shape(harmful) == generated.shape(harmless)
    module: dict = {}
    exec(compile(harmful.split("\n# The task bodies", 1)[0], "flow", "exec"), module)
    assert module["IDENTITY"]["spec_path"] == f"{hostile.HOSTILE}.yaml"


def test_a_spec_without_a_registry_has_no_tracking() -> None:
    pipeline, artifacts = _emit(SPEC.split("registry:")[0])
    assert not lineage.tracked(pipeline)
    text = _flow_text(pipeline, artifacts)
    for absent in ("mlspec_track", "mlspec_lineage", "mlspec_close", "IDENTITY", "engine="):
        assert absent not in text
    assert "    return mlspec_run.finish()\n" in text and "finally:" not in text


# -- a real Prefect run against a real MLflow store -------------------------------------------


def _run_flows(tmp_path: Path, prefect_api: str, plan: list[tuple[dict, str]]) -> list[dict]:
    """Runs the flow once per (parameters, tracking URI): each run's id, state name, and the
    TRACKING_LINEs it printed (`tracking`)."""
    pipeline, artifacts = _emit(SPEC)
    flow_folder = tmp_path / "flow"
    flow_folder.mkdir()
    _write(artifacts, flow_folder)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "lineage_demo.py").write_text(STEPS)
    env = clean_env(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_API_URL=prefect_api,
        PYTHONPATH=str(tmp_path / "code"),
        MLSPEC_ARTIFACT_ROOT=str(tmp_path / "artifacts"),
    )
    command = [sys.executable, "-c", DRIVER, str(flow_folder / file_name(pipeline))]
    command += [function_name(pipeline), json.dumps(plan), RUN_MARK]
    print(f"\nstarting: the flow of lineage-demo {len(plan)} times on {prefect_api}")
    process = subprocess.Popen(
        command,
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
    for run, printed in zip(runs, output.split(RUN_MARK)[1:], strict=True):
        run["tracking"] = [
            json.loads(line.split(names.TRACKING_LINE, 1)[1])
            for line in printed.splitlines()
            if names.TRACKING_LINE in line
        ]
        run["output"] = printed
    return runs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_each_flow_run_is_an_mlflow_run_that_the_promoted_version_points_to(
    tmp_path: Path, prefect_api: str, uri: str
) -> None:
    from mlflow import MlflowClient

    # Passing, blocked by the model gate, failed by a step; then with the tracking server's
    # database gone, and too few rows for the data gate.
    outage = f"sqlite:///{tmp_path / 'gone' / 'mlflow.db'}"
    plan = [({}, uri), ({"min_score": 2.0}, uri), ({"fail": True}, uri), ({"rows": 1}, outage)]
    passed, blocked, failed, untracked = _run_flows(tmp_path, prefect_api, plan)
    every = (passed, blocked, failed, untracked)
    states = [r["state"] for r in every]
    assert states == ["Completed", "GateBlocked", "Failed", "GateBlocked"], [
        r["output"][-3000:] for r in every
    ]
    for run in (passed, blocked, failed):
        assert [t for t in run["tracking"] if not t["recorded"]] == [], run["output"][-6000:]
    # The tracking tasks by their names in Prefect; in a failed run, the close still completes.
    for task in (names.TRACK_TASK, names.LINEAGE_TASK, names.CLOSE_TASK):
        assert f"Task run '{task}' - Finished in state Completed()" in passed["output"]
    assert f"Task run '{names.CLOSE_TASK}' - Finished in state Completed()" in failed["output"]
    assert f"Task run '{names.LINEAGE_TASK}'" not in untracked["output"]  # fit did not run
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("lineage-demo")
    assert experiment is not None
    runs = {
        r.data.tags[names.TAG_ENGINE_RUN_ID]: r
        for r in client.search_runs([experiment.experiment_id])
    }
    assert sorted(runs) == sorted(r["id"] for r in (passed, blocked, failed))  # one each

    run = runs[passed["id"]]
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags[names.TAG_ENGINE] == "prefect"
    assert tags[names.TAG_PIPELINE_RUN] == f"lineage-demo/{passed['id']}"
    assert tags[names.TAG_SPEC] == "lineage-demo"
    assert tags[names.TAG_SPEC_VERSION] == "2.1.0"
    assert tags[names.TAG_SPEC_SHA256] == hashlib.sha256(SPEC.encode()).hexdigest()
    assert tags[names.TAG_GATE_PREFIX + "enough_rows"] == "passed"
    assert tags[names.TAG_GATE_PREFIX + "good"] == "passed"
    assert tags[names.TAG_OUTPUT_PREFIX + "fit.kind"] == "toy"
    assert tags[names.TAG_LINEAGE] == "recorded"
    assert tags[names.TAG_PROMOTED_PREFIX + "challenger"] == "1"
    assert run.data.params == {"rows": "5", "min_score": "0.5", "fail": "false"}
    assert run.data.metrics == {"fit.score": 0.75}
    reports = {a.path for a in client.list_artifacts(run.info.run_id, "gates")}
    assert reports == {"gates/enough_rows.json", "gates/good.json"}
    # Every dataset, fingerprinted by its content, with the steps and gates that read it.
    folder = tmp_path / "artifacts" / "lineage-demo" / passed["id"] / "make"
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["make.table", "make.unread"]
    for name, readers in (("make.table", "enough_rows,fit"), ("make.unread", "")):
        found = inputs[name]
        assert found.dataset.digest == _sha256(folder / name.split(".")[1])[:32]
        context = {t.key: t.value for t in found.tags}.get(names.DATASET_CONTEXT_TAG, "")
        assert context == readers
    # The promoted version's source run is this run.
    version = client.get_model_version("lineage-demo", "1")
    assert version.run_id == run.info.run_id
    assert version.tags[names.VERSION_TAG_TRACKING_RUN] == run.info.run_id
    assert version.tags[names.VERSION_TAG_MODEL_SHA256] == _sha256(
        tmp_path / "artifacts" / "lineage-demo" / passed["id"] / "fit" / "model"
    )

    # A blocked gate is a run that did what the spec says: recorded, closed FINISHED.
    run = runs[blocked["id"]]
    assert run.info.status == "FINISHED"
    assert run.data.tags[names.TAG_GATE_PREFIX + "good"] == "blocked"
    assert run.data.tags[names.TAG_LINEAGE] == "recorded"
    assert names.TAG_PROMOTED_PREFIX + "challenger" not in run.data.tags
    assert [str(v.version) for v in client.search_model_versions("name='lineage-demo'")] == ["1"]

    # A failed step: the run still closes, FAILED; what ran before it is recorded.
    run = runs[failed["id"]]
    assert run.info.status == "FAILED"
    assert run.data.tags[names.TAG_GATE_PREFIX + "enough_rows"] == "passed"
    assert names.TAG_LINEAGE not in run.data.tags  # not every step ran

    # A tracking outage: the run decides as without tracking, and says what it did not record.
    unrecorded = {t["task"] for t in untracked["tracking"] if not t["recorded"]}
    assert {names.TRACK_TASK, "enough_rows", names.CLOSE_TASK} <= unrecorded
    assert all(t["recorded"] is False for t in untracked["tracking"])
    assert not (tmp_path / "gone").exists()


def test_a_flow_cloned_from_git_leaves_its_pin_to_the_deployment() -> None:
    """With code.git the workers clone the compiled flow at the pinned commit, which the flow
    cannot hold: its IDENTITY leaves the spec's hash and git source out, prefect.yaml sets them
    for every run (read with PyYAML, as Prefect reads it)."""
    import yaml

    from mlspec.api import analyze, compile_pipeline

    flagship = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer" / "pipeline.yaml"
    pipeline = analyze(flagship).pipeline
    assert pipeline is not None and lineage.cloned_from_git(pipeline)
    files = {a.path: a.text for a in compile_pipeline(pipeline, "prefect").artifacts}
    deployment = yaml.safe_load(files["prefect.yaml"])["deployments"][0]
    assert deployment["work_pool"]["job_variables"]["env"] == {
        names.ENV_SPEC_SHA256: pipeline.spec_sha256,
        names.ENV_GIT_SOURCE: lineage.identity(pipeline)["git"],
    }
    flow = files["breast_cancer_classifier.py"]
    assert pipeline.spec_sha256 not in flow and '"spec_sha256": null' in flow
