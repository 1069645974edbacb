"""Task bodies for targets whose tasks run in a Python worker: Airflow and Prefect.

Runtime module: generated pipelines carry it as a file of its own (standard library and the
runtime's other modules). A generated DAG or flow keeps its tasks as plain data
(`STEPS`, `GATES`, `PROMOTIONS`) and hands them here with what the engine knows about the run
(`TaskRun`): the run id, the run's parameters, and how to read an upstream task's result. The
generated file stays small and quick to parse; this code is compiled only when a task runs.

Artifacts live under `<root>/<pipeline>/<run>/<step>/<output>`, and a looped step's under
`<root>/<pipeline>/<run>/<step>/<index>/<output>`. An input is `{'param': NAME}`, `{'value': V}`,
`{'output': [STEP, NAME]}` (an upstream scalar), `{'artifact': [STEP, NAME]}`, `{'item': True}`
(the element of the task's loop) or `{'fan_in': INPUT}` (every iteration's INPUT, as a list).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .code import use_package
from .lineage import (
    LINEAGE_TASK,
    TRACK_TASK,
    close_run,
    git_commit,
    open_run,
    record_gate,
    record_steps,
    tracking_line,
)
from .notebook import EXECUTED, run_notebook
from .steps import data_gate_step, model_gate_step, promotion_step, serving_gate_step

TASK_ARTIFACT_TYPES = frozenset({"dataset", "model", "metrics", "artifact"})
# The most elements a loop runs over (the compiler's bound on a written list; a list parameter
# set for a run is held to it here).
MAX_ITEMS = 1000


class GateFailed(Exception):
    """A gate with `on_fail: fail` said no; the target turns this into a failed run."""


@dataclass(frozen=True)
class TaskRun:
    """One task's view of its pipeline and run."""

    pipeline: str
    spec_version: str
    artifact_root: str | None  # the spec's; MLSPEC_ARTIFACT_ROOT wins
    tracking_uri: str | None  # the spec's; else MLFLOW_TRACKING_URI
    registered_model: str | None
    steps: dict
    gates: dict
    promotions: dict
    run_id: str
    params: dict
    # An upstream Python step's returned dict of scalars; of a looped step, the list of every
    # iteration's dict, in the order of the loop's elements.
    results: Callable[[str], Any]
    # A tracked pipeline's (backends.lineage): the engine's name, identity(), dataset_readers()
    engine: str = ""
    identity: dict | None = None
    datasets: dict | None = None
    # The loops, {LOOP: {'value': [...]} or {'param': NAME}}, and the iteration this task runs
    # (None outside a loop). Steps and gates name their loop in their data ('loop').
    loops: dict = field(default_factory=dict)
    iteration: Iteration | None = None


@dataclass(frozen=True)
class Iteration:
    """The element of a loop one task handles: engines give each mapped task its own."""

    loop: str
    index: int
    item: Any


def loop_items(run: TaskRun, loop: str) -> list:
    """The elements a loop runs over in this run: its list, or its list parameter's value
    (JSON text from a run form is read as JSON), at most MAX_ITEMS."""
    spec = run.loops[loop]
    if "value" in spec:
        return list(spec["value"])
    value = run.params[spec["param"]]
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise ValueError(
            f"parameter {spec['param']!r} must be a list of at most {MAX_ITEMS} elements, "
            f"not {value!r}"
        )
    return items


def _loop(run: TaskRun, node: str) -> str | None:
    return (run.steps.get(node) or run.gates.get(node) or {}).get("loop")


def own_index(run: TaskRun, node: str) -> int | None:
    """The iteration of `node` this task reads or writes: its own, when `node` runs in the
    task's loop; None when `node` runs once."""
    loop = _loop(run, node)
    if loop is None:
        return None
    if run.iteration is None or run.iteration.loop != loop:
        raise RuntimeError(
            f"{node!r} runs once per element of loop {loop!r}; outside the loop its outputs "
            "are read as a fan-in (a list)"
        )
    return run.iteration.index


def iterations(run: TaskRun, node: str) -> list[int] | None:
    """The iterations of a looped step or gate in this run, in element order; None when
    `node` runs once."""
    loop = _loop(run, node)
    return None if loop is None else list(range(len(loop_items(run, loop))))


def in_iteration(run: TaskRun, node: str, index: int | None) -> TaskRun:
    """The run as the task of `node` numbered `index` among its loop's tasks sees it (an
    engine's map index): with its Iteration when `node` runs in a loop, else as it is."""
    loop = _loop(run, node)
    if loop is None or index is None or index < 0:
        return run
    return replace(run, iteration=Iteration(loop, index, loop_items(run, loop)[index]))


def run_path(run: TaskRun, node: str, name: str, index: int | None = None) -> str:
    """Where this run keeps one output (or report) of a step or gate: of iteration `index`,
    else of this task's own iteration if `node` runs in its loop."""
    if index is None:
        index = own_index(run, node)
    return artifact_path(run.artifact_root, run.pipeline, run.run_id, node, name, index)


def run_output_path(run: TaskRun, node: str, name: str) -> str:
    """`run_path` with its folder made, for the task that writes it."""
    path = run_path(run, node, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def pipeline_folder(root: str | None, pipeline: str) -> str:
    """The folder that holds a pipeline's runs: `<root>/<pipeline>`."""
    root = os.environ.get("MLSPEC_ARTIFACT_ROOT") or root
    if not root or "://" in root:
        raise RuntimeError(
            f"no artifact folder: the spec gives {root!r}; set MLSPEC_ARTIFACT_ROOT to a "
            "filesystem path that every task of the run sees"
        )
    return os.path.join(root, pipeline)


def artifact_path(
    root: str | None, pipeline: str, run_id: str, step: str, name: str, index: int | None = None
) -> str:
    """Where a run keeps one output of one step (of one iteration, for a looped step)."""
    run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    iteration = () if index is None else (str(index),)
    return os.path.join(pipeline_folder(root, pipeline), run, step, *iteration, name)


def output_path(
    root: str | None, pipeline: str, run_id: str, step: str, name: str, index: int | None = None
) -> str:
    """An output's path, with its folder made, for the step that writes it."""
    path = artifact_path(root, pipeline, run_id, step, name, index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def cast_value(value: Any, kind: str) -> Any:
    """A value as the spec's type says: numbers from text, strict booleans."""
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"{value!r} is not a bool")
        return text in ("true", "1")
    return value if kind in TASK_ARTIFACT_TYPES else str(value)


def value_text(value: Any) -> str:
    """A value as a container argument or an environment variable sees it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def scalar_output(run: TaskRun, step: str, name: str, index: int | None = None) -> Any:
    """An upstream step's scalar output: its task's result, or the file its container wrote;
    of iteration `index`, else of this task's own iteration if `step` runs in its loop."""
    if index is None:
        index = own_index(run, step)
    kind = run.steps[step]["outputs"][name]
    if run.steps[step]["kind"] == "container":
        with open(run_path(run, step, name, index), encoding="utf-8") as handle:
            return cast_value(handle.read().strip(), kind)
    found = run.results(step)
    return cast_value((found if index is None else found[index])[name], kind)


def input_value(run: TaskRun, spec: dict) -> Any:
    if "param" in spec:
        return cast_value(run.params[spec["param"]], spec["type"])
    if "output" in spec:
        return scalar_output(run, *spec["output"])
    if "artifact" in spec:
        return run_path(run, *spec["artifact"])
    if "item" in spec:
        if run.iteration is None:
            raise RuntimeError("an input reads the loop's element, but the task runs in no loop")
        return cast_value(run.iteration.item, spec["type"])
    if "fan_in" in spec:  # every iteration's output, in the order of the loop's elements
        return fan_in(run, spec["fan_in"])
    return spec["value"]


def fan_in(run: TaskRun, spec: dict) -> list:
    """One output of a looped step, every iteration's: scalars or paths."""
    step, name = spec["output"] if "output" in spec else spec["artifact"]
    loop = _loop(run, step)
    assert loop is not None, f"{step!r} runs in no loop"
    indexes = range(len(loop_items(run, loop)))
    if "output" in spec:
        return [scalar_output(run, step, name, i) for i in indexes]
    return [run_path(run, step, name, i) for i in indexes]


def env_values(run: TaskRun, env: dict) -> dict[str, str]:
    return {
        name: value_text(run.params[value["param"]]) if isinstance(value, dict) else value
        for name, value in env.items()
    }


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_python_step(run: TaskRun, step: str) -> dict | None:
    """Call the step's function by mlspec's calling convention; return its scalar outputs."""
    spec = run.steps[step]
    if spec["kind"] == "notebook":
        return run_notebook_step(run, step)
    module, _, name = spec["function"].partition(":")
    if spec.get("code"):  # the pinned step package shipped beside the DAG or flow
        code = spec["code"]
        beside = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        use_package(os.path.join(beside, code["folder"]), code["package"], code["digest"])
    function = getattr(importlib.import_module(module), name)
    kwargs = {key: input_value(run, value) for key, value in spec["inputs"].items()}
    for output, kind in spec["outputs"].items():
        if kind in TASK_ARTIFACT_TYPES:
            kwargs[output] = run_output_path(run, step, output)
    with _environment(env_values(run, spec["env"])):
        result = function(**kwargs)
    scalars = {n: kind for n, kind in spec["outputs"].items() if kind not in TASK_ARTIFACT_TYPES}
    if not scalars:
        return None
    if not isinstance(result, dict) or any(n not in result for n in scalars):
        raise TypeError(
            f"{spec['function']} must return a dict with the keys {', '.join(scalars)}, "
            f"not {result!r}"
        )
    return {n: cast_value(result[n], kind) for n, kind in scalars.items()}


def run_notebook_step(run: TaskRun, step: str) -> dict | None:
    """Execute the step's notebook, shipped beside the DAG or flow and checked against its
    digest, by the same calling convention (runtime/notebook.py); the executed notebook is
    kept among the step's files."""
    spec = run.steps[step]
    shipped = spec["notebook"]
    beside = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(beside, shipped["file"]), "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != shipped["digest"]:
        raise RuntimeError(
            f"the notebook shipped for step {step!r} ({shipped['file']}) is not the one "
            "compiled: deploy the compiled folder as it is"
        )
    return execute_notebook(run, step, data.decode("utf-8"))


def execute_notebook(run: TaskRun, step: str, text: str) -> dict | None:
    """Run a notebook step's notebook `text` by the calling convention: inputs and output paths
    injected, scalar outputs read back, the executed notebook kept among the step's files."""
    spec = run.steps[step]
    shipped = spec["notebook"]
    values = {key: input_value(run, value) for key, value in spec["inputs"].items()}
    scalars = {n: kind for n, kind in spec["outputs"].items() if kind not in TASK_ARTIFACT_TYPES}
    for output, kind in spec["outputs"].items():
        if kind in TASK_ARTIFACT_TYPES:
            values[output] = run_output_path(run, step, output)
    executed = run_output_path(run, step, EXECUTED)
    with _environment(env_values(run, spec["env"])):
        found = run_notebook(text, shipped["path"], values, scalars, executed)
    return found or None


def container_text(run: TaskRun, step: str, parts: list) -> str:
    """One command or argument of a container step, with its placeholders filled in."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif "output" in part:
            out.append(run_output_path(run, step, part["output"]))
        else:
            out.append(value_text(input_value(run, run.steps[step]["inputs"][part["input"]])))
    return "".join(out)


def _tracking_uri(run: TaskRun) -> str | None:
    return run.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")


def _fill(run: TaskRun, items: list) -> list:
    """Checks and requirements with run parameters and artifact paths in place of references."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict) and "param" in value:
            return float(run.params[value["param"]])
        if isinstance(value, dict) and "artifact" in value:
            return run_path(run, *value["artifact"])
        return value

    return [{key: fill(value) for key, value in item.items()} for item in items]


def judge_gate(run: TaskRun, gate: str) -> bool:
    """Run a gate; its report is an artifact that promotions read. GateFailed: on_fail: fail."""
    spec = run.gates[gate]
    report = run_output_path(run, gate, "report")
    if spec["kind"] == "data":
        passed = data_gate_step(
            gate,
            run_path(run, *spec["dataset"]),
            _fill(run, spec["checks"]),
            report,
        )
    elif spec["kind"] == "serving":
        dataset = spec["dataset"]
        passed = serving_gate_step(
            gate,
            run_path(run, *spec["model"]),
            spec["config"],
            report,
            dataset_path=run_path(run, *dataset) if dataset else None,
        )
    else:
        passed = model_gate_step(
            gate,
            {f"{s}.{o}": scalar_output(run, s, o) for s, o in spec["metrics"]},
            _fill(run, spec["requirements"]),
            report,
            first_run=spec["first_run"],
            tracking_uri=_tracking_uri(run),
            model_name=run.registered_model,
        )
    if run.identity is not None:  # a tracked pipeline: after the report, never deciding it
        datasets = _datasets(run, gate)
        record_gate(_tracking_uri(run), tracking_run(run), report, datasets, own_index(run, gate))
    if not passed and spec["on_fail"] == "fail":
        raise GateFailed(f"gate {gate!r} did not pass (on_fail: fail)")
    return bool(passed)


def promote_model(run: TaskRun, alias: str) -> str | None:
    """Register the model and set the alias, if every gate of the rule passed in this run."""
    spec = run.promotions[alias]
    tracking_uri = _tracking_uri(run)
    if not tracking_uri or not run.registered_model:
        raise RuntimeError(
            "no MLflow tracking URI: set registry.mlflow.tracking_uri in the spec or "
            "MLFLOW_TRACKING_URI"
        )

    def path(step: str, name: str) -> str:
        return run_path(run, step, name)

    def reports(gate: str) -> list[str]:
        """A gate's report; a per-item gate's, every iteration's (each must have passed)."""
        loop = _loop(run, gate)
        if loop is None:
            return [path(gate, "report")]
        return [run_path(run, gate, "report", i) for i in range(len(loop_items(run, loop)))]

    pipeline_run = f"{run.pipeline}/{run.run_id}"
    tracking = None
    if run.identity is not None:  # a tracked pipeline
        by = {"by": "pipeline", "pipeline_run": pipeline_run}
        tracking = {"uri": tracking_uri, "run": tracking_run(run), "by": by}
    return promotion_step(
        tracking_uri,
        run.registered_model,
        path(*spec["model"]),
        alias=alias,
        rule_gates=spec["gates"],
        report_paths=[p for gate in spec["gates"] for p in reports(gate)],
        run_id=pipeline_run,
        spec_name=run.pipeline,
        spec_version=run.spec_version,
        metrics={  # a looped step's, one per iteration (STEP.INDEX.OUTPUT)
            key: scalar_output(run, s, o, index)
            for s, o in spec["metrics"]
            for key, index in _iterations(run, s, o)
        },
        tags=spec["tags"],
        git_commit=git_commit(run.identity) or None,
        reference_path=path(*spec["reference"]) if spec.get("reference") else None,
        tracking=tracking,
    )


def tracking_run(run: TaskRun) -> str:
    """The MLflow run TRACK_TASK opened for this pipeline run; "" when there is none."""
    try:
        found = run.results(TRACK_TASK)
    except Exception:  # no such result (an engine raises, another answers None): untracked
        return ""
    return found if isinstance(found, str) else ""


def open_tracking(run: TaskRun) -> str:
    """TRACK_TASK: open the run's MLflow run; its id, or "" when tracking is unavailable."""
    identity = run.identity or {"pipeline": run.pipeline, "spec_version": run.spec_version}
    return open_run(
        _tracking_uri(run),
        identity=identity,
        pipeline_run=f"{run.pipeline}/{run.run_id}",
        engine=run.engine,
        engine_run_id=run.run_id,
        params=run.params,
    )


def record_lineage(run: TaskRun) -> None:
    """LINEAGE_TASK: every step's scalar outputs and every dataset, into the MLflow run."""
    outputs: dict[str, object] = {}
    for step, spec in run.steps.items():
        for name, kind in spec["outputs"].items():
            if kind in TASK_ARTIFACT_TYPES:
                continue
            for key, index in _iterations(run, step, name):
                try:
                    outputs[key] = scalar_output(run, step, name, index)
                except Exception as exc:  # tracking never fails the run: say what is missing
                    tracking_line(LINEAGE_TASK, False, f"output {key} not recorded: {exc}")
    record_steps(_tracking_uri(run), tracking_run(run), outputs, _datasets(run))


def close_tracking(run: TaskRun, succeeded: bool) -> None:
    """CLOSE_TASK: end the MLflow run, FINISHED or FAILED."""
    close_run(_tracking_uri(run), tracking_run(run), succeeded=succeeded)


def _datasets(run: TaskRun, reader: str | None = None) -> list[dict]:
    """Every dataset of the run (backends.lineage.dataset_readers) with its path; or those a
    gate `reader` read: a per-item gate's own iteration's only (its iterations run at once, and
    each recording every iteration's datasets would race for the same records)."""
    found = []
    for name, readers in (run.datasets or {}).items():
        step, _, output = name.partition(".")
        if reader is not None and reader not in readers:
            continue
        # a per-item gate's own iteration: its index, else None (every iteration)
        own = own_index(run, reader) if reader and _loop(run, step) == _loop(run, reader) else None
        for key, index in _iterations(run, step, output):
            if own is not None and index != own:
                continue
            path = artifact_path(run.artifact_root, run.pipeline, run.run_id, step, output, index)
            found.append({"name": key, "path": path, "readers": list(readers)})
    return found


def _iterations(run: TaskRun, step: str, output: str) -> list[tuple[str, int | None]]:
    """How lineage names an output, `STEP.OUTPUT`, or of a looped step one per iteration,
    `STEP.INDEX.OUTPUT` (the index of the element in the loop's list)."""
    loop = _loop(run, step)
    if loop is None:
        return [(f"{step}.{output}", None)]
    try:
        count = len(loop_items(run, loop))
    except (KeyError, ValueError) as exc:  # tracking never fails the run
        tracking_line(LINEAGE_TASK, False, f"outputs of {step} not recorded: {exc}")
        return []
    return [(f"{step}.{i}.{output}", i) for i in range(count)]


def kubernetes_job(run: TaskRun, step: str, attempt: int) -> dict:
    """A container step as a Kubernetes Job: named per attempt, never retried by Kubernetes."""
    spec = run.steps[step]
    short_run = re.sub(r"[^a-z0-9]", "", run.run_id.lower())[:8]
    env: list[dict] = [{"name": k, "value": v} for k, v in env_values(run, spec["env"]).items()]
    env += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for k, (secret, key) in spec["secrets"].items()
    ]
    container: dict = {"name": "step", "image": spec["image"], "env": env}
    container["resources"] = spec["resources"]
    if spec["command"]:
        container["command"] = [container_text(run, step, c) for c in spec["command"]]
    if spec["args"]:
        container["args"] = [container_text(run, step, a) for a in spec["args"]]
    pod: dict = {"restartPolicy": "Never", "containers": [container]}
    pod.update((k, spec[k]) for k in ("nodeSelector", "tolerations") if k in spec)
    claim = os.environ.get("MLSPEC_ARTIFACT_CLAIM")
    if claim:  # step pods mount the artifact root from this PersistentVolumeClaim
        root = os.environ.get("MLSPEC_ARTIFACT_ROOT") or run.artifact_root
        pod["volumes"] = [{"name": "artifacts", "persistentVolumeClaim": {"claimName": claim}}]
        container["volumeMounts"] = [{"name": "artifacts", "mountPath": root}]
    labels = {"mlspec/pipeline": run.pipeline, "mlspec/step": step}
    index = own_index(run, step)
    name = step.replace("_", "-") + ("" if index is None else f"-{index}")
    if index is not None:
        labels["mlspec/iteration"] = str(index)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-{short_run}-{attempt}", "labels": labels},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": labels}, "spec": pod}},
    }
