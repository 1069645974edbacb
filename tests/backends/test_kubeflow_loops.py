"""Loops on Kubeflow: one `dsl.ParallelFor` per loop, fan-ins as `dsl.Collected`, read back
with kfp's own protobufs (issue #23 item 1). What kfp cannot compile is MS301, proven here on
kfp itself; the run on kfp's local runner is tests/backends/test_fanout_engines.py."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb2
from support import generated, kfp_exec
from support.kfp_ir import validate

from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.compiler import analyze_file, analyze_text

ROOT = Path(__file__).resolve().parents[2]
FANOUT = ROOT / "tests" / "support" / "specs" / "fanout.yaml"
REGIONS = ROOT / "specs" / "valid" / "regions.yaml"
BACKEND = KubeflowBackend()


def _spec(path: Path) -> pb2.PipelineSpec:
    """The IR as kfp's protobuf (validate: every reference between its parts resolves)."""
    pipeline = analyze_file(path).pipeline
    assert [d for d in BACKEND.check(pipeline) if d.severity == "error"] == []
    [artifact] = generated.without_rollout(BACKEND.emit(pipeline))
    validate(artifact.text)
    spec = pb2.PipelineSpec()
    json_format.ParseDict(next(yaml.safe_load_all(artifact.text)), spec)
    return spec


def _tasks(spec: pb2.PipelineSpec, component: str) -> Any:
    return spec.components[component].dag.tasks


def _loops(spec: pb2.PipelineSpec) -> dict[str, pb2.PipelineTaskSpec]:
    """Every ParallelFor task, by its display name, wherever it is nested."""
    found = {}
    dags = [spec.root.dag] + [c.dag for c in spec.components.values() if c.HasField("dag")]
    for dag in dags:
        for task in dag.tasks.values():
            if task.WhichOneof("iterator"):
                found[task.task_info.name] = task
    return found


def _task(spec: pb2.PipelineSpec, name: str) -> tuple[str, pb2.PipelineTaskSpec]:
    """(the component whose DAG holds it, the task) of the task named `name`."""
    for component, body in spec.components.items():
        if body.HasField("dag") and name in body.dag.tasks:
            return component, body.dag.tasks[name]
    raise AssertionError(name)


def test_a_list_parameter_loop_is_one_parallel_for_over_the_parameter() -> None:
    spec = _spec(FANOUT)
    regions = spec.root.input_definitions.parameters["regions"]
    assert regions.parameter_type == pb2.ParameterType.LIST
    assert list(json_format.MessageToDict(regions.default_value)) == ["eu", "us", "apac"]
    loops = _loops(spec)
    assert set(loops) == {"for each make", "for each score"}
    make = loops["for each make"]
    assert make.parameter_iterator.items.input_parameter == "pipelinechannel--regions"
    body = spec.components[make.component_ref.name].dag.tasks
    # Members and the per-item gate in one ParallelFor; features in the gate's dsl.If there.
    assert {"make", "region-rows"} <= set(body)
    item = make.parameter_iterator.item_input
    assert body["make"].inputs.parameters["region"].component_input_parameter == item
    condition = next(t for t in body.values() if t.task_info.name == "region_rows passed")
    assert "region-rows-Output" in condition.trigger_policy.condition
    inner = spec.components[condition.component_ref.name].dag.tasks
    assert inner["features"].inputs.parameters["region"].component_input_parameter == item
    # A written list of floats is a ParallelFor over the raw list.
    assert loops["for each score"].parameter_iterator.items.raw == "[0.5, 2.0]"


def test_fan_ins_are_collected_lists_of_artifacts_and_values() -> None:
    spec = _spec(FANOUT)
    loop = _loops(spec)["for each make"]
    component, combine = _task(spec, "combine")
    outputs = spec.components[loop.component_ref.name].output_definitions
    assert outputs.artifacts["pipelinechannel--features-table"].is_artifact_list
    assert outputs.parameters["pipelinechannel--make-rows"].parameter_type == pb2.ParameterType.LIST
    tables = combine.inputs.artifacts["tables"].task_output_artifact
    assert tables.producer_task == _name_of(spec, component, "for each make")
    inputs = spec.components[combine.component_ref.name].input_definitions
    assert inputs.artifacts["tables"].is_artifact_list
    assert inputs.parameters["rows"].parameter_type == pb2.ParameterType.LIST
    # pick collects the floats of the loop beside it in the all_rows block.
    component, pick = _task(spec, "pick")
    scores = pick.inputs.parameters["scores"].task_output_parameter
    assert scores.producer_task == _name_of(spec, component, "for each score")


def _name_of(spec: pb2.PipelineSpec, component: str, display: str) -> str:
    return next(n for n, t in _tasks(spec, component).items() if t.task_info.name == display)


def test_a_promotion_reads_the_per_item_gate_merged_over_every_iteration() -> None:
    spec = _spec(FANOUT)
    _, promote = _task(spec, "promote-challenger")  # in the all_rows and all_regions blocks
    reports = sorted(
        v.component_input_artifact for k, v in promote.inputs.artifacts.items() if "report" in k
    )
    gates = ("all-regions", "all-rows", "region-rows-every")
    assert reports == [f"pipelinechannel--{g}-report" for g in gates]
    _, every = _task(spec, "region-rows-every")
    assert every.inputs.artifacts["reports"].task_output_artifact.output_artifact_key == (
        "pipelinechannel--region-rows-report"
    )


def test_the_forty_step_spec_compiles_to_two_loops() -> None:
    spec = _spec(REGIONS)
    loops = _loops(spec)
    assert len(loops) == 2
    assert sorted(len(yaml.safe_load(t.parameter_iterator.items.raw)) for t in loops.values()) == [
        3,
        12,
    ]


def test_lineage_records_looped_scalars_per_iteration() -> None:
    pipeline = analyze_file(FANOUT).pipeline
    [artifact] = generated.without_rollout(BACKEND.emit(pipeline))
    text = artifact.text
    assert "f'make.{_mlspec_i}.rows'" in text and "f'score.{_mlspec_i}.score'" in text


# kfp reads the components' annotations: this module's are strings (`from __future__`).
KFP_PROOF = """
from typing import List
from kfp import dsl

@dsl.component
def make(table: dsl.Output[dsl.Dataset]) -> bool:
    return True

@dsl.component
def combine(tables: dsl.Input[List[dsl.Dataset]]):
    pass

def body():
    with dsl.ParallelFor([1, 2]):
        made = make()
    with dsl.If(make().outputs['Output'] == True):
        combine(tables=dsl.Collected(made.outputs['table']))

dsl.pipeline(name='p')(body)
"""


def test_kfp_cannot_pass_collected_artifacts_into_a_condition(tmp_path: Path) -> None:
    """What the MS301 below refuses: kfp 2.17.3's compiler fails on it (kfp reads the
    components' source from their file)."""
    (tmp_path / "proof.py").write_text(KFP_PROOF, encoding="utf-8")
    with pytest.raises(TypeError, match="'NoneType' object cannot be interpreted as an integer"):
        runpy.run_path(str(tmp_path / "proof.py"))


AFTER_A_GATE = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: loops, version: 1.0.0}
params:
  regions: {type: "list[str]", default: [eu, us]}
defaults: {image: ghcr.io/acme/demo:1.0.0}
steps:
  base:
    python: demo.steps:base
    outputs: {table: dataset}
  make:
    for_each: params.regions
    python: demo.steps:make
    inputs: {region: item}
    outputs: {table: dataset}
  combine:
    python: demo.steps:combine
    inputs: {tables: make.table}
    outputs: {table: dataset}
    after: [base_ok]
gates:
  base_ok:
    dataset: base.table
    checks: [{row_count: {min: 1}}]
"""


def test_collected_artifacts_read_under_a_gate_the_loop_is_not_under_is_ms301() -> None:
    pipeline = analyze_text(AFTER_A_GATE, "loops.yaml").pipeline
    (problem,) = [d for d in BACKEND.check(pipeline) if d.severity == "error"]
    assert (problem.code, problem.span.line) == ("MS301", 16)  # combine
    assert "'combine' reads the outputs of every iteration of 'make'" in problem.message
    assert "'NoneType' object cannot be interpreted as an integer" in problem.message
    assert problem.hint and "compile for airflow or prefect" in problem.hint


def test_a_per_item_gate_that_guards_a_collected_step_warns_it_fails_the_run() -> None:
    pipeline = analyze_file(FANOUT).pipeline
    found = [d for d in BACKEND.check(pipeline) if d.code == "MS302"]
    failing = [d for d in found if "fails the run" in d.message]
    assert [(d.span.line, d.severity) for d in failing] == [(38, "warning")]
    assert "'combine' reads the outputs of every iteration of 'features'" in failing[0].message
    recorded = {d.span.line for d in found if "in no iteration" in d.message}
    assert recorded == {14, 19}  # make.table and features.table


CONTAINERS = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: tools, version: 1.0.0}
params:
  regions: {type: "list[str]", default: [eu, us]}
steps:
  make:
    for_each: params.regions
    image: ghcr.io/acme/tool:1.0
    container: {command: [tool, "${inputs.region}", "${outputs.rows}"]}
    inputs: {region: item}
    outputs: {rows: int}
  total:
    image: ghcr.io/acme/tool:1.0
    container: {command: [sum, "${inputs.rows}"]}
    inputs: {rows: make.rows}
"""


def test_container_steps_take_the_item_and_a_collected_list_as_json_text(tmp_path: Path) -> None:
    """kfp's own placeholder substitution (kfp.local) over what the loop hands each task."""
    from kfp.local import executor_input_utils

    pipeline = analyze_text(CONTAINERS, "tools.yaml").pipeline
    assert [d for d in BACKEND.check(pipeline) if d.severity == "error"] == []
    [artifact] = generated.without_rollout(BACKEND.emit(pipeline))
    validate(artifact.text)
    root = str(tmp_path)
    argv = {}
    given = {"make": {"region": "eu"}, "total": {"rows": [3, 4]}}
    for executor in kfp_exec.executors(artifact.text):
        if executor.task not in given:  # the exit handler's task
            continue
        value = given[executor.task]
        message = executor_input_utils.construct_executor_input(
            executor.component, value, f"{root}/job/{executor.task}", block_input_artifact=False
        )
        values = executor_input_utils.executor_input_to_dict(message, executor.component)
        argv[executor.task] = kfp_exec.resolve(executor, values, root)
    assert argv["make"][:2] == ["tool", "eu"]
    # JSON text; kfp passes numbers through protobuf's Value, so kfp.local writes 3 as 3.0
    assert argv["total"][0] == "sum" and json.loads(argv["total"][1]) == [3, 4]


def test_the_summary_reads_a_per_item_gate_from_kfp_local_iteration_folders(
    tmp_path: Path,
) -> None:
    """kfp's local runner keeps iteration INDEX's tasks in for-loop-N-iteration-INDEX/."""
    from mlspec.run.summary import gate_reports

    for index in (1, 0, 2):
        folder = tmp_path / "fanout-run" / f"for-loop-2-iteration-{index}" / "region-rows"
        folder.mkdir(parents=True)
        report = {"gate": "region_rows", "passed": index != 1}
        (folder / "report").write_text(json.dumps(report), encoding="utf-8")
    found = gate_reports(analyze_file(FANOUT).pipeline, tmp_path)
    per_item = {k: v and v["passed"] for k, v in found.items() if k.startswith("region_rows")}
    assert list(per_item.items()) == [
        ("region_rows.0", True),
        ("region_rows.1", False),
        ("region_rows.2", True),
    ]


OUTER_VALUE = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: outer, version: 1.0.0}
steps:
  count:
    python: steps:count
    outputs: {n: int}
  scale:
    for_each: [1, 2]
    python: steps:scale
    inputs: {factor: item, n: count.n}
    outputs: {m: int}
"""


def test_mlspec_run_refuses_what_kfp_local_would_run_with_the_item(tmp_path: Path) -> None:
    """kfp.local hands an iteration the item for any other task's output value (it ran the
    fanout spec's per-item gate with tracking run 'eu'); a local run would be silently wrong."""
    import subprocess
    import sys

    from mlspec.run import kubeflow_driver

    spec = tmp_path / "outer.yaml"
    spec.write_text(OUTER_VALUE, encoding="utf-8")
    root = tmp_path / "root"
    command = [sys.executable, kubeflow_driver.__file__, str(spec), "sqlite:///x.db", str(root)]
    done = subprocess.run([*command, "{}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "would run scale.n with the wrong value" in done.stderr
    assert not root.exists()
