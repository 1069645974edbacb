"""The task bodies that Airflow DAGs and Prefect flows run: paths, values, steps, gates, jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlspec.runtime import tasks

STEPS = {
    "make": {
        "kind": "python",
        "function": "tasks_demo:make",
        "inputs": {
            "rate": {"param": "rate", "type": "float"},
            "label": {"value": "x"},
        },
        "env": {"LEVEL": "debug", "FLAG": {"param": "flag"}},
        "outputs": {"table": "dataset", "rows": "int"},
    },
    "score": {
        "kind": "container",
        "image": "busybox:1.36",
        "command": [["sh"]],
        "args": [
            ["--rows=", {"input": "rows"}],
            [{"output": "score"}],
            ["--on=", {"input": "flag"}],
        ],
        "inputs": {
            "rows": {"output": ["make", "rows"]},
            "flag": {"param": "flag", "type": "bool"},
        },
        "env": {"MODE": {"param": "flag"}},
        "secrets": {"TOKEN": ["api", "token"]},
        "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1", "nvidia.com/gpu": "1"}},
        "outputs": {"score": "float"},
    },
}
GATES = {
    "enough": {
        "kind": "data",
        "on_fail": "fail",
        "dataset": ["make", "table"],
        "checks": [{"kind": "row_count", "min": {"param": "min_rows"}, "max": None}],
    }
}

DEMO = """
import os


def make(rate, label, table):
    with open(table, "w") as handle:
        handle.write("a\\n1\\n2\\n")
    return {"rows": "2", "seen": [rate, label, os.environ["LEVEL"], os.environ["FLAG"]]}
"""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tasks.TaskRun:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tasks_demo.py").write_text(DEMO)
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    monkeypatch.delenv("MLSPEC_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("MLSPEC_ARTIFACT_CLAIM", raising=False)
    monkeypatch.delenv("LEVEL", raising=False)
    sys.modules.pop("tasks_demo", None)
    results = {"make": {"rows": 2}}
    return tasks.TaskRun(
        pipeline="demo",
        spec_version="1.0.0",
        artifact_root=str(tmp_path / "root"),
        tracking_uri=None,
        registered_model=None,
        steps=STEPS,
        gates=GATES,
        promotions={},
        run_id="manual__2026-01-01T00:00:00+00:00",
        params={"rate": 1, "flag": True, "min_rows": 3},
        results=results.__getitem__,
    )


def test_artifact_paths_are_per_run_step_and_output(run: tasks.TaskRun, tmp_path: Path) -> None:
    path = tasks.artifact_path(run.artifact_root, "demo", run.run_id, "make", "table")
    assert path == str(tmp_path / "root/demo/manual__2026-01-01T00_00_00_00_00/make/table")


def test_the_environment_root_wins_and_a_uri_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLSPEC_ARTIFACT_ROOT", str(tmp_path / "env"))
    assert tasks.artifact_path("s3://bucket", "p", "r", "s", "o").startswith(str(tmp_path))
    monkeypatch.delenv("MLSPEC_ARTIFACT_ROOT")
    with pytest.raises(RuntimeError, match="set MLSPEC_ARTIFACT_ROOT"):
        tasks.artifact_path("s3://bucket", "p", "r", "s", "o")


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("2", "int", 2),
        (3, "float", 3.0),
        ("TRUE", "bool", True),
        ("0", "bool", False),
        (5, "str", "5"),
        ("/a/b", "model", "/a/b"),
    ],
)
def test_values_are_cast_to_the_spec_type(value: object, kind: str, expected: object) -> None:
    assert tasks.cast_value(value, kind) == expected
    assert type(tasks.cast_value(value, kind)) is type(expected)


def test_a_bool_must_look_like_one() -> None:
    with pytest.raises(ValueError, match="is not a bool"):
        tasks.cast_value("yes", "bool")


def test_a_python_step_gets_values_paths_and_env_and_returns_typed_scalars(
    run: tasks.TaskRun,
) -> None:
    sys.modules.pop("tasks_demo", None)
    result = tasks.run_python_step(run, "make")
    assert result == {"rows": 2}  # "2" cast to the declared int; undeclared keys dropped
    table = tasks.artifact_path(run.artifact_root, "demo", run.run_id, "make", "table")
    assert Path(table).read_text() == "a\n1\n2\n"
    import os

    assert "LEVEL" not in os.environ  # restored after the call


def test_a_python_step_that_returns_too_little_is_an_error(run: tasks.TaskRun) -> None:
    steps = {**STEPS, "make": {**STEPS["make"], "outputs": {"table": "dataset", "nope": "int"}}}
    broken = tasks.TaskRun(**{**run.__dict__, "steps": steps})
    with pytest.raises(TypeError, match="must return a dict with the keys nope"):
        tasks.run_python_step(broken, "make")


def test_a_container_step_becomes_a_job_named_per_attempt(
    run: tasks.TaskRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSPEC_ARTIFACT_CLAIM", "shared-artifacts")
    first = tasks.kubernetes_job(run, "score", 1)
    second = tasks.kubernetes_job(run, "score", 2)
    assert first["metadata"]["name"] == "score-manual20-1" != second["metadata"]["name"]
    assert first["spec"]["backoffLimit"] == 0
    pod = first["spec"]["template"]["spec"]
    [container] = pod["containers"]
    score = tasks.artifact_path(run.artifact_root, "demo", run.run_id, "score", "score")
    assert container["args"] == ["--rows=2", score, "--on=true"]
    assert container["env"] == [
        {"name": "MODE", "value": "true"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
    ]
    assert container["resources"]["limits"] == {"cpu": "1", "nvidia.com/gpu": "1"}
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "shared-artifacts"}
    assert container["volumeMounts"][0]["mountPath"] == run.artifact_root
    assert pod["restartPolicy"] == "Never"


def test_a_container_scalar_output_is_read_from_its_file(run: tasks.TaskRun) -> None:
    path = tasks.output_path(run.artifact_root, "demo", run.run_id, "score", "score")
    Path(path).write_text("0.75\n")
    assert tasks.scalar_output(run, "score", "score") == 0.75
    assert tasks.scalar_output(run, "make", "rows") == 2  # a Python step's result


def test_a_failing_gate_with_on_fail_fail_raises_and_writes_its_report(
    run: tasks.TaskRun,
) -> None:
    sys.modules.pop("tasks_demo", None)
    tasks.run_python_step(run, "make")  # two rows; the gate wants min_rows = 3
    with pytest.raises(tasks.GateFailed, match="gate 'enough' did not pass"):
        tasks.judge_gate(run, "enough")
    report = tasks.artifact_path(run.artifact_root, "demo", run.run_id, "enough", "report")
    assert json.loads(Path(report).read_text())["passed"] is False
    run.params["min_rows"] = 2
    assert tasks.judge_gate(run, "enough") is True


def test_a_tracked_run_records_its_steps_gates_and_promotion_in_one_mlflow_run(
    run: tasks.TaskRun, uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from mlflow import MlflowClient

    from mlspec.runtime import lineage

    monkeypatch.setenv("MLSPEC_GIT_COMMIT", "c0ffee")
    results: dict = {"make": {"rows": 2}}
    promotions = {
        "challenger": {"model": ["make", "table"], "gates": ["enough"], "metrics": [], "tags": {}}
    }
    tracked = tasks.TaskRun(
        **{
            **run.__dict__,
            "tracking_uri": uri,
            "registered_model": "demo-model",
            "promotions": promotions,
            "params": {**run.params, "min_rows": 2},
            "results": results.__getitem__,
            "engine": "prefect",
            "identity": {"pipeline": "demo", "spec_version": "1.0.0", "code": {}, "git": None},
            "datasets": {"make.table": ["enough"]},
        }
    )
    assert tasks.tracking_run(tracked) == ""  # TRACK_TASK has not run: untracked, no error
    results[lineage.TRACK_TASK] = run_id = tasks.open_tracking(tracked)
    assert tasks.tracking_run(tracked) == run_id != ""
    sys.modules.pop("tasks_demo", None)
    tasks.run_python_step(tracked, "make")
    assert tasks.judge_gate(tracked, "enough") is True
    Path(tasks.output_path(run.artifact_root, "demo", run.run_id, "score", "score")).write_text(
        "0.75\n"
    )
    assert tasks.promote_model(tracked, "challenger") == "1"
    tasks.record_lineage(tracked)
    tasks.close_tracking(tracked, succeeded=True)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_run(run_id)
    assert found.info.status == "FINISHED"
    assert found.data.params == {"rate": "1", "flag": "true", "min_rows": "2"}
    assert found.data.metrics == {"make.rows": 2.0, "score.score": 0.75}
    tags = found.data.tags
    assert tags[lineage.TAG_PIPELINE_RUN] == f"demo/{run.run_id}"
    assert tags[lineage.TAG_ENGINE] == "prefect"
    assert tags[lineage.TAG_ENGINE_RUN_ID] == tags["mlflow.runName"] == run.run_id
    assert tags[lineage.TAG_GIT_COMMIT] == "c0ffee"
    assert tags[lineage.TAG_GATE_PREFIX + "enough"] == "passed"
    assert tags[lineage.TAG_PROMOTED_PREFIX + "challenger"] == "1"
    assert tags[lineage.TAG_LINEAGE] == "recorded"
    [table] = found.inputs.dataset_inputs
    assert table.dataset.name == "make.table"
    assert [(t.key, t.value) for t in table.tags] == [(lineage.DATASET_CONTEXT_TAG, "enough")]
    version = client.get_model_version("demo-model", "1")
    assert version.run_id == run_id
    assert version.tags["mlspec.run_id"] == f"demo/{run.run_id}"
    assert version.tags["mlspec.git_commit"] == "c0ffee"
    lines = [line for line in capsys.readouterr().out.splitlines() if "MLSPEC-TRACKING" in line]
    assert lines and all('"recorded": true' in line for line in lines)


def test_an_untracked_run_passes_no_tracking(
    run: tasks.TaskRun, capsys: pytest.CaptureFixture
) -> None:
    sys.modules.pop("tasks_demo", None)
    tasks.run_python_step(run, "make")
    run.params["min_rows"] = 2
    assert tasks.judge_gate(run, "enough") is True
    assert "MLSPEC-TRACKING" not in capsys.readouterr().out
