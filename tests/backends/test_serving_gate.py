"""A serving gate on each pipeline target: what the generated pipeline hands the runtime.

The runtime (`runtime.steps.serving_gate_step`) is replaced by a recorder here: these tests are
about the wiring, each target's own way of reaching it. Kubeflow: the IR read back with kfp's
protobufs, the gate's executor resolved by kfp.local's placeholder substitution and run by kfp's
own Executor. Airflow and Prefect: the generated file's GATES read back from its text, run by
`runtime.tasks.judge_gate`, which their tasks call. Spec text (here, hostile text in a column
name and an inline example) reaches the runtime as the same text on every target.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from kfp.dsl import executor as kfp_executor
from kfp.dsl import utils as kfp_utils
from support import kfp_ir
from support.kfp_exec import executor_input, executors, resolve

from mlspec.api import compile_pipeline
from mlspec.backends.kubeflow.plan import RUNTIME_ENTRY
from mlspec.backends.lineage import dataset_readers
from mlspec.backends.runtime_args import serving_args
from mlspec.compiler import analyze_text
from mlspec.runtime import tasks

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "valid" / "serving-gates.yaml"
HOSTILE = "t'); import os; os.remove('x') #\"\"\" {{$.inputs.parameters['x']}} ${port}"


def hostile_spec() -> str:
    text = SPEC.read_text(encoding="utf-8")
    text = text.replace("drop: [target]", f"drop: [target, {json.dumps(HOSTILE)}]")
    return text.replace('"card"', json.dumps(HOSTILE))


def expected_configs() -> dict[str, dict]:
    pipeline = analyze_text(hostile_spec(), "serving-gates.yaml").pipeline
    return {g.name: serving_args(g.serving) for g in pipeline.gates if g.serving is not None}


class Recorder:
    """Stands in for the runtime's `steps` and `lineage`: records each serving gate's call and
    what it records into the run, answers `verdict`."""

    def __init__(self, verdict: bool) -> None:
        self.verdict = verdict
        self.calls: list[dict[str, Any]] = []
        self.tracking: list[dict] = []  # each lineage.record_gate call

    def serving_gate_step(
        self,
        gate: str,
        model_path: str,
        config: dict,
        report_path: str,
        dataset_path: str | None = None,
    ) -> bool:
        self.calls.append(
            {
                "gate": gate,
                "model": model_path,
                "config": config,
                "report": report_path,
                "dataset": dataset_path,
            }
        )
        return self.verdict

    def record_gate(self, uri: str | None, run: str, report_path: str, datasets: list) -> None:
        assert report_path == self.calls[-1]["report"]  # after the gate, its own report
        self.tracking.append({"uri": uri, "run": run, "datasets": datasets})


def test_the_hostile_spec_keeps_its_text() -> None:
    configs = expected_configs()
    assert HOSTILE in configs["servable"]["drop"]
    assert configs["custom_server"]["examples"][0] == [0.5, 12.0, HOSTILE]


# -- Kubeflow ------------------------------------------------------------------------------------


def kubeflow_ir(text: str) -> str:
    compiled = compile_pipeline(analyze_text(text, str(SPEC)), "kubeflow")
    [ir_file] = [a for a in compiled.artifacts if a.path.endswith(".kfp.yaml")]
    return ir_file.text


def test_kubeflow_refuses_its_placeholder_in_a_serving_gate() -> None:
    """`{{$` in spec text would be replaced by KFP: MS301 at the text, no IR."""
    from mlspec.backends.kubeflow.backend import KubeflowBackend

    pipeline = analyze_text(hostile_spec(), str(SPEC)).pipeline
    found = KubeflowBackend().check(pipeline)
    lines = [i for i, line in enumerate(hostile_spec().splitlines(), 1) if HOSTILE[:8] in line]
    assert len(lines) == 2
    assert [(d.code, d.span.line) for d in found if d.code == "MS301"] == [
        ("MS301", line) for line in lines
    ]


def kfp_safe(text: str) -> str:
    return text.replace("{{$", "{ {$")


@pytest.mark.parametrize("verdict", [True, False])
def test_kubeflow_gate_component_hands_the_runtime_its_artifacts_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verdict: bool
) -> None:
    text = kfp_safe(hostile_spec())
    ir_text = kubeflow_ir(text)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the spec names no server
    readers = dataset_readers(analyze_text(text, str(SPEC)).pipeline)["ingest.test"]
    docs = kfp_ir.validate(ir_text)
    components = docs[0]["components"]
    servable = components["comp-servable"]["inputDefinitions"]
    assert {n: a["artifactType"]["schemaTitle"] for n, a in servable["artifacts"].items()} == {
        "model": "system.Model",
        "dataset": "system.Dataset",
    }
    custom = components["comp-custom-server"]["inputDefinitions"]
    assert set(custom["artifacts"]) == {"model"}  # inline examples: no dataset
    for name in ("servable", "custom-server"):
        outputs = components[f"comp-{name}"]["outputDefinitions"]
        assert outputs["artifacts"]["report"]["artifactType"]["schemaTitle"] == "system.Artifact"
        assert outputs["parameters"]["Output"]["parameterType"] == "BOOLEAN"
    # The gate's task reads the model and the dataset from the steps that make them.
    dags = [docs[0]["root"], *components.values()]
    [task] = [
        d["dag"]["tasks"]["servable"]
        for d in dags
        if "servable" in d.get("dag", {}).get("tasks", {})
    ]
    producers = {
        name: a["taskOutputArtifact"]["producerTask"]
        for name, a in task["inputs"]["artifacts"].items()
    }
    assert producers == {"model": "train", "dataset": "ingest"}

    configs = {k: json.loads(json.dumps(v)) for k, v in expected_configs().items()}
    configs["custom_server"]["examples"][0][2] = kfp_safe(HOSTILE)
    configs["servable"]["drop"][1] = kfp_safe(HOSTILE)
    root = tmp_path / "root"
    for executor in executors(ir_text):
        gate = executor.task.replace("-", "_")
        if gate not in configs:
            continue
        values = executor_input(executor, "unused", str(root))
        # What KFP passes for the defaulted input the task leaves unset: its default.
        entry = executor.component.input_definitions.parameters[RUNTIME_ENTRY]
        values["inputs"]["parameterValues"][RUNTIME_ENTRY] = entry.default_value.string_value
        argv = resolve(executor, values, str(root))
        assert argv[argv.index("--function_to_execute") + 1] == gate
        program = tmp_path / f"{gate}.py"
        program.write_text(executor.container["command"][-1], encoding="utf-8")
        module = kfp_utils.load_module(module_name=gate, module_directory=str(tmp_path))
        recorder = Recorder(verdict)
        monkeypatch.setattr(module, "_mlspec_runtime", lambda name, r=recorder: r)
        if not verdict and gate == "custom_server":  # on_fail: fail fails the task
            with pytest.raises(RuntimeError, match="did not pass"):
                kfp_executor.Executor(
                    json.loads(argv[argv.index("--executor_input") + 1]), getattr(module, gate)
                ).execute()
        else:
            kfp_executor.Executor(
                json.loads(argv[argv.index("--executor_input") + 1]), getattr(module, gate)
            ).execute()
        [call] = recorder.calls
        assert call["gate"] == gate
        assert call["config"] == configs[gate]
        assert call["model"] == str(root / "upstream" / "model")
        assert call["dataset"] == (
            str(root / "upstream" / "dataset") if gate == "servable" else None
        )
        assert call["report"].startswith(str(root)) and call["report"].endswith("/report")
        # A registry: the gate records into the run's MLflow run, with the dataset it read.
        run = values["inputs"]["parameterValues"]["tracking_run"]
        datasets = [{"name": "ingest.test", "path": call["dataset"], "readers": readers}]
        assert recorder.tracking == [
            {
                "uri": None,
                "run": run,
                "datasets": datasets if gate == "servable" else [],
            }
        ]
        configs.pop(gate)
    assert configs == {}, "a serving gate without its component"


# -- Airflow and Prefect ----------------------------------------------------------------------


def generated_gates(target: str, text: str) -> dict:
    """GATES of the generated DAG or flow file, read from its text as the file reads it."""
    compiled = compile_pipeline(analyze_text(text, str(SPEC)), target)
    [main] = [a for a in compiled.artifacts if a.path == "fraud_scorer.py"]
    for node in ast.parse(main.text).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["GATES"]:
            call = node.value
            assert isinstance(call, ast.Call) and ast.unparse(call.func) == "json.loads"
            return json.loads(ast.literal_eval(call.args[0]))
    raise AssertionError("no GATES in the generated file")


@pytest.mark.parametrize("target", ["airflow", "prefect"])
def test_python_targets_run_serving_gates_through_judge_gate(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates = generated_gates(target, hostile_spec())
    configs = expected_configs()
    assert gates["servable"] == {
        "kind": "serving",
        "on_fail": "block",
        "model": ["train", "model"],
        "dataset": ["ingest", "test"],
        "config": configs["servable"],
    }
    assert gates["custom_server"]["dataset"] is None
    assert gates["custom_server"]["config"] == configs["custom_server"]

    monkeypatch.delenv("MLSPEC_ARTIFACT_ROOT", raising=False)
    recorder = Recorder(False)
    monkeypatch.setattr(tasks, "serving_gate_step", recorder.serving_gate_step)
    run = tasks.TaskRun(
        pipeline="fraud-scorer",
        spec_version="2.0.0",
        artifact_root=str(tmp_path),
        tracking_uri=None,
        registered_model="fraud-scorer",
        steps={},
        gates=gates,
        promotions={},
        run_id="r1",
        params={},
        results=lambda step: {},
    )
    assert tasks.judge_gate(run, "servable") is False  # on_fail: block
    with pytest.raises(tasks.GateFailed, match="custom_server"):
        tasks.judge_gate(run, "custom_server")  # on_fail: fail

    def path(step: str, name: str) -> str:
        return tasks.artifact_path(str(tmp_path), "fraud-scorer", "r1", step, name)

    assert recorder.calls == [
        {
            "gate": "servable",
            "model": path("train", "model"),
            "config": configs["servable"],
            "report": tasks.output_path(str(tmp_path), "fraud-scorer", "r1", "servable", "report"),
            "dataset": path("ingest", "test"),
        },
        {
            "gate": "custom_server",
            "model": path("train", "model"),
            "config": configs["custom_server"],
            "report": tasks.output_path(
                str(tmp_path), "fraud-scorer", "r1", "custom_server", "report"
            ),
            "dataset": None,
        },
    ]
    recorder.verdict = True
    assert tasks.judge_gate(run, "custom_server") is True
