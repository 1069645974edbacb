"""IR -> the plain data that generated Python files (Airflow, Prefect) keep about their tasks.

Generated modules hold `STEPS`, `GATES` and `PROMOTIONS` as literals, and fixed helpers read
them at run time. An input or threshold is `{'param': NAME}` (a run parameter), `{'value': V}`,
`{'output': [STEP, NAME]}` (an upstream scalar), `{'artifact': [STEP, NAME]}` (its path),
`{'item': True}` (the element of the step's loop) or `{'fan_in': INPUT}` (a looped step's output
read outside its loop: every iteration's, as a list). Steps and gates of a loop name it
(`'loop'`); `LOOPS` holds each loop's list (`loops_data`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal

from mlspec.backends import code_files, placeholders
from mlspec.backends.runtime_args import (
    Slot,
    data_check_args,
    promotion_task_name,
    requirement_args,
    serving_args,
)
from mlspec.compiler import ir
from mlspec.runtime.monitor import TRAINED_ON


def promotions(pipeline: ir.Pipeline) -> list[ir.PromotionRule]:
    """Rules the run applies itself; those that wait for the rollout are applied by CI later."""
    if pipeline.registry is None:
        return []
    return [r for r in pipeline.registry.rules if not r.after_rollout]


def _input_data(item: ir.Input) -> dict[str, object]:
    source = item.source
    if isinstance(source, ir.ParamRef):
        return {"param": source.name, "type": item.type}
    kind = "artifact" if item.is_artifact else "output"
    if isinstance(source, ir.OutputRef):
        return {kind: [source.step, source.output]}
    if isinstance(source, ir.FanIn):
        return {"fan_in": {kind: [source.ref.step, source.ref.output]}}
    if isinstance(source, ir.Item):
        return {"item": True, "type": item.type}
    return {"value": source.value}


def loops_data(pipeline: ir.Pipeline) -> dict[str, dict[str, object]]:
    """`LOOPS`: each loop's elements, written in the spec or a list parameter's."""
    return {
        loop.name: {"param": loop.items.name}
        if isinstance(loop.items, ir.ParamRef)
        else {"value": list(loop.items)}
        for loop in pipeline.loops
    }


def _in_loop(node: ir.Step | ir.Gate, data: dict[str, object]) -> dict[str, object]:
    return {**data, "loop": node.loop} if node.loop is not None else data


def inputs_data(step: ir.Step) -> dict[str, object]:
    """Each input of a step as data: where its value comes from, and its type."""
    return {i.name: _input_data(i) for i in step.inputs}


def step_data(step: ir.Step) -> dict[str, object]:
    data: dict[str, object] = {"kind": step.kind}
    if step.kind != "container":
        if step.kind == "python":
            data["function"] = step.function
            data["code"] = code_files.step_code(step)
        else:
            data["notebook"] = code_files.notebook_file(step)
        data["inputs"] = inputs_data(step)
        data["env"] = {
            e.name: e.value if e.value is not None else {"param": e.param}
            for e in step.env
            if e.secret is None  # refused by `check` for Python steps
        }
    data["outputs"] = {o.name: o.type for o in step.outputs}
    return _in_loop(step, data)


def _slots_to_data(value: object) -> object:
    if isinstance(value, Slot):
        if value.kind == "param":
            return {"param": value.name}
        step, _, output = value.name.partition(".")
        return {"artifact": [step, output]}
    if isinstance(value, dict):
        return {k: _slots_to_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_slots_to_data(v) for v in value]
    return value


def _param_slots(gate: ir.Gate) -> dict[str, Slot]:
    values = [v for c in gate.checks for v in (c.min, c.max)]
    values += [v for r in gate.requirements for v in (r.min, r.max)]
    return {v.name: Slot("param", v.name) for v in values if isinstance(v, ir.ParamRef)}


def model_metrics(gate: ir.Gate) -> list[list[str]]:
    return [
        list(pair)
        for pair in dict.fromkeys((r.metric.step, r.metric.output) for r in gate.requirements)
    ]


def gate_data(gate: ir.Gate) -> dict[str, object]:
    return _in_loop(gate, _gate_fields(gate))


def _gate_fields(gate: ir.Gate) -> dict[str, object]:
    params = _param_slots(gate)
    if gate.kind == "data":
        assert gate.dataset is not None
        references = {
            c.reference: Slot("artifact", f"{c.reference.step}.{c.reference.output}")
            for c in gate.checks
            if c.reference is not None
        }
        return {
            "kind": "data",
            "on_fail": gate.on_fail,
            "dataset": [gate.dataset.step, gate.dataset.output],
            "checks": _slots_to_data([data_check_args(c, params, references) for c in gate.checks]),
        }
    if gate.kind == "serving":
        check = gate.serving
        assert check is not None
        return {
            "kind": "serving",
            "on_fail": gate.on_fail,
            "model": [check.model.step, check.model.output],
            "dataset": [check.dataset.step, check.dataset.output] if check.dataset else None,
            "config": serving_args(check),
        }
    return {
        "kind": "model",
        "on_fail": gate.on_fail,
        "first_run": gate.first_run,
        "metrics": model_metrics(gate),
        "requirements": _slots_to_data([requirement_args(r, params) for r in gate.requirements]),
    }


def promotion_data(pipeline: ir.Pipeline, rule: ir.PromotionRule) -> dict[str, object]:
    registry = pipeline.registry
    assert registry is not None
    metrics: list[list[str]] = []
    for gate in rule.gates:
        metrics += [m for m in model_metrics(pipeline.gate(gate)) if m not in metrics]
    return {
        "gates": list(rule.gates),
        "model": [registry.model.step, registry.model.output],
        "metrics": metrics,
        "tags": dict(registry.tags),
        **(
            {"reference": [registry.reference.step, registry.reference.output]}
            if registry.reference
            else {}
        ),
    }


def resource_amounts(step: ir.Step) -> tuple[dict[str, str], dict[str, str]]:
    """Kubernetes requests and limits: CPU and memory requested as much as limited,
    accelerators limited (Kubernetes sets an extended resource's request to its limit)."""
    resources, placement = step.resources, step.placement
    requests: dict[str, str] = {}
    if resources.cpu:
        requests["cpu"] = resources.cpu
    if resources.memory:
        requests["memory"] = resources.memory
    limits = dict(requests)
    if placement.accelerator_type:
        limits[placement.accelerator_type] = str(placement.accelerator_count)
    return requests, limits


def toleration_data(t: ir.Toleration) -> dict[str, object]:
    """A Kubernetes toleration, in the API's own field names; unset fields left out."""
    data = {
        "key": t.key,
        "operator": t.operator,
        "value": t.value,
        "effect": t.effect,
        "tolerationSeconds": t.seconds,
    }
    return {k: v for k, v in data.items() if v is not None}


def container_data(step: ir.Step) -> dict[str, object]:
    """A container step for targets that build its Kubernetes Job at run time (Prefect)."""

    def parts(text: str) -> list[object]:
        return [
            piece if isinstance(piece, str) else {piece[0].removesuffix("s"): piece[1]}
            for piece in placeholders.split(text)
        ]

    requests, limits = resource_amounts(step)
    data: dict[str, object] = {
        "kind": "container",
        "image": step.image,
        "command": [parts(c) for c in step.command],
        "args": [parts(a) for a in step.args],
        "inputs": {i.name: _input_data(i) for i in step.inputs},
        "env": {
            e.name: e.value if e.value is not None else {"param": e.param}
            for e in step.env
            if e.secret is None
        },
        "secrets": {e.name: [e.secret.name, e.secret.key] for e in step.env if e.secret},
        "resources": {"requests": requests, "limits": limits},
        "outputs": {o.name: o.type for o in step.outputs},
        **placement_data(step.placement),
    }
    return _in_loop(step, data)


def placement_data(placement: ir.Placement) -> dict[str, object]:
    """The pod's nodeSelector and tolerations, only where set (accelerators are resources)."""
    data: dict[str, object] = {}
    if placement.node_selector:
        data["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        data["tolerations"] = [toleration_data(t) for t in placement.tolerations]
    return data


@dataclass(frozen=True)
class TaskNode:
    """One task of a generated pipeline: a step, a gate or a promotion."""

    name: str  # the task's id
    kind: Literal["step", "gate", "promotion"]
    subject: str  # the step or gate it runs, or the alias it promotes to
    after: tuple[str, ...]  # tasks whose outputs it reads or that it waits for
    gates: tuple[str, ...]  # gates that must pass before it runs


def task_graph(pipeline: ir.Pipeline) -> list[TaskNode]:
    """Every task in an order that runs each after what it needs; ties keep spec order."""
    nodes = [TaskNode(s.name, "step", s.name, s.upstream, s.gates) for s in pipeline.steps]
    nodes += [TaskNode(g.name, "gate", g.name, g.upstream, ()) for g in pipeline.gates]
    registry = pipeline.registry
    for rule in promotions(pipeline):
        assert registry is not None
        reads = [registry.model.step]
        reads += [registry.reference.step] if registry.reference else []
        reads += [s for g in rule.gates for s, _ in model_metrics(pipeline.gate(g))]
        name = promotion_task_name(rule.alias)
        nodes.append(TaskNode(name, "promotion", rule.alias, (*dict.fromkeys(reads),), rule.gates))
    position = {n.name: i for i, n in enumerate(nodes)}
    waiting = {n.name: len({*n.after, *n.gates}) for n in nodes}
    dependents: dict[str, list[str]] = {n.name: [] for n in nodes}
    for node in nodes:
        for before in {*node.after, *node.gates}:
            dependents[before].append(node.name)
    ready = [position[n.name] for n in nodes if waiting[n.name] == 0]
    heapq.heapify(ready)
    ordered: list[TaskNode] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        ordered.append(node)
        for name in dependents[node.name]:
            waiting[name] -= 1
            if waiting[name] == 0:
                heapq.heappush(ready, position[name])
    assert len(ordered) == len(nodes), "the front end refuses cycles"
    return ordered


def monitor_data(pipeline: ir.Pipeline) -> dict[str, object]:
    """A Monitor spec's job as `runtime.monitor.run_monitor` takes it, on every target."""
    monitor = pipeline.monitor
    assert monitor is not None
    checks = [
        data_check_args(c, {}, {})
        if c.kind != "drift" or c.reference_uri
        else {**data_check_args(c, {}, {}), "reference": TRAINED_ON}
        for c in monitor.checks
    ]
    feedback = monitor.feedback
    return {
        "name": pipeline.name,
        "pipeline": monitor.model.pipeline,
        "registered_model": monitor.model.registered_model,
        "alias": monitor.model.alias,
        "inputs": _logged_data(monitor.inputs),
        "checks": checks,
        "feedback": {
            **_logged_data(feedback.data),
            "prediction": feedback.prediction,
            "label": feedback.label,
            "positive": feedback.positive,
            "min_rows": feedback.min_rows,
            "requirements": [
                {"metric": r.metric, "min": r.min, "max": r.max} for r in feedback.requirements
            ],
        }
        if feedback is not None
        else None,
        "rollback_on": list(monitor.rollback_on),
    }


def _logged_data(data: ir.LoggedData) -> dict[str, object]:
    return {"path": data.path, "window_seconds": data.window_seconds}
