"""IR -> the template context of an Airflow DAG file: task data, operators and their arguments.

Everything variable in the DAG file is decided here and handed to the template as `Code`:
spec values as literals (`pysource.literal`); strings that Airflow renders with Jinja at run time
(container image, command, arguments, env) first pass through `pysource.jinja_text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from mlspec import __version__
from mlspec.backends import placeholders
from mlspec.backends.pysource import Code, comment, identifier, jinja_text, literal, string_lines
from mlspec.backends.runtime_args import (
    Slot,
    data_check_args,
    promotion_task_name,
    requirement_args,
)
from mlspec.compiler import ir
from mlspec.runtime import embed

GPU_RESOURCE = "nvidia.com/gpu"
PARAM_TYPES = {"float": "number", "int": "integer", "str": "string", "bool": "boolean"}
REPORT = "report"  # a gate's report: an artifact beside the steps' outputs


@dataclass(frozen=True)
class Task:
    name: str
    variable: Code
    operator: Code
    arguments: tuple[tuple[Code, Code], ...]


def file_name(pipeline: ir.Pipeline) -> str:
    return pipeline.name.replace("-", "_") + ".py"


def context(pipeline: ir.Pipeline) -> dict[str, object]:
    containers = [s for s in pipeline.steps if s.kind == "container"]
    registry = pipeline.registry
    tasks, edges = _tasks(pipeline)
    return {
        "version": comment(__version__),
        "spec_file": comment(PurePath(pipeline.source_file).name),
        "pipeline_name": comment(f"{pipeline.name} {pipeline.version}"),
        "pipeline": pipeline.name,
        "spec_version": pipeline.version,
        "artifact_root": pipeline.artifact_root,
        "tracking_uri": registry.tracking_uri if registry else None,
        "registered_model": registry.registered_model if registry else None,
        "containers": bool(containers),
        "secrets": any(e.secret for s in containers for e in s.env),
        "schedule": pipeline.schedule is not None,
        "steps": {s.name: _step_data(s) for s in pipeline.steps},
        "gates": {g.name: _gate_data(g) for g in pipeline.gates},
        "promotions": {r.alias: _promotion_data(pipeline, r) for r in _promotions(pipeline)},
        "dag_args": _dag_args(pipeline),
        "tasks": tasks,
        "edges": edges,
        "runtime": string_lines(embed.bundle()),
    }


def _promotions(pipeline: ir.Pipeline) -> list[ir.PromotionRule]:
    """Rules the run applies itself; those that wait for the rollout are applied by CI later."""
    if pipeline.registry is None:
        return []
    return [r for r in pipeline.registry.rules if not r.after_rollout]


# ---- task data -----------------------------------------------------------------------------


def _input_data(item: ir.Input) -> dict[str, object]:
    source = item.source
    if isinstance(source, ir.ParamRef):
        return {"param": source.name, "type": item.type}
    if isinstance(source, ir.OutputRef):
        kind = "artifact" if item.is_artifact else "output"
        return {kind: [source.step, source.output]}
    return {"value": source.value}


def _step_data(step: ir.Step) -> dict[str, object]:
    data: dict[str, object] = {"kind": step.kind}
    if step.kind == "python":
        data["function"] = step.function
        data["inputs"] = {i.name: _input_data(i) for i in step.inputs}
        data["env"] = {
            e.name: e.value if e.value is not None else {"param": e.param}
            for e in step.env
            if e.secret is None  # refused by `check` for Python steps
        }
    data["outputs"] = {o.name: o.type for o in step.outputs}
    return data


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


def _model_metrics(gate: ir.Gate) -> list[list[str]]:
    return [
        list(pair)
        for pair in dict.fromkeys((r.metric.step, r.metric.output) for r in gate.requirements)
    ]


def _gate_data(gate: ir.Gate) -> dict[str, object]:
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
    return {
        "kind": "model",
        "on_fail": gate.on_fail,
        "first_run": gate.first_run,
        "metrics": _model_metrics(gate),
        "requirements": _slots_to_data([requirement_args(r, params) for r in gate.requirements]),
    }


def _promotion_data(pipeline: ir.Pipeline, rule: ir.PromotionRule) -> dict[str, object]:
    registry = pipeline.registry
    assert registry is not None
    metrics: list[list[str]] = []
    for gate in rule.gates:
        metrics += [m for m in _model_metrics(pipeline.gate(gate)) if m not in metrics]
    return {
        "gates": list(rule.gates),
        "model": [registry.model.step, registry.model.output],
        "metrics": metrics,
        "tags": dict(registry.tags),
    }


# ---- the DAG and its tasks -----------------------------------------------------------------


def _dag_args(pipeline: ir.Pipeline) -> tuple[tuple[Code, Code], ...]:
    args: list[tuple[str, object]] = [("dag_id", pipeline.name)]
    if pipeline.description:
        args.append(("description", pipeline.description))
    schedule = pipeline.schedule
    if schedule is None:
        args.append(("schedule", None))
    else:
        args.append(
            (
                "schedule",
                Code(
                    f"CronTriggerTimetable({literal(schedule.cron)}, "
                    f"timezone={literal(schedule.timezone)})"
                ),
            )
        )
        args.append(("is_paused_upon_creation", schedule.paused))
    args.append(("start_date", Code("datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)")))
    args.append(("catchup", False))
    tags = ["mlspec", *(f"{k}:{v}" for k, v in pipeline.labels)]
    args.append(("tags", tags))
    if pipeline.owners:
        args.append(("default_args", {"owner": ", ".join(pipeline.owners)}))
    if pipeline.params:
        args.append(("params", _params(pipeline)))
    return _arguments(args, indent=1)


def _params(pipeline: ir.Pipeline) -> Code:
    lines = ["{"]
    for p in pipeline.params:
        arguments = [literal(p.default), f"type={literal(PARAM_TYPES[p.type])}"]
        if p.description:
            arguments.append(f"description={literal(p.description)}")
        lines.append(f"        {literal(p.name)}: Param({', '.join(arguments)}),")
    lines.append("    }")
    return Code("\n".join(lines))


def _variable(name: str) -> Code:
    return identifier(f"{name}_task")


def _task(name: str, operator: Code, arguments: tuple[tuple[Code, Code], ...]) -> Task:
    return Task(name, _variable(name), operator, arguments)


def _tasks(pipeline: ir.Pipeline) -> tuple[list[Task], list[tuple[Code, Code]]]:
    tasks: list[Task] = []
    upstream: dict[str, list[str]] = {}
    for step in pipeline.steps:
        tasks.append(
            _container_task(pipeline, step) if step.kind == "container" else _python_task(step)
        )
        upstream[step.name] = [*step.upstream, *step.gates]
    for gate in pipeline.gates:
        operator = "ShortCircuitOperator" if gate.on_fail == "block" else "PythonOperator"
        arguments = [
            ("task_id", gate.name),
            ("python_callable", Code("_mlspec_gate")),
            ("op_kwargs", {"gate": gate.name}),
        ]
        if gate.description:
            arguments.append(("doc_md", gate.description))
        tasks.append(_task(gate.name, Code(operator), _arguments(arguments)))
        upstream[gate.name] = list(gate.upstream)
    for rule in _promotions(pipeline):
        name = promotion_task_name(rule.alias)
        arguments = [
            ("task_id", name),
            ("python_callable", Code("_mlspec_promote")),
            ("op_kwargs", {"alias": rule.alias}),
            ("doc_md", f"Promote the model to {rule.alias!r} once {', '.join(rule.gates)} passed."),
        ]
        tasks.append(_task(name, Code("PythonOperator"), _arguments(arguments)))
        assert pipeline.registry is not None
        reads = [pipeline.registry.model.step]
        reads += [s for g in rule.gates for s, _ in _model_metrics(pipeline.gate(g))]
        upstream[name] = [*dict.fromkeys([*reads, *rule.gates])]
    edges: list[tuple[Code, Code]] = []
    for task in tasks:
        for before in dict.fromkeys(upstream[task.name]):
            edges.append((_variable(before), task.variable))
    return tasks, _grouped(edges)


def _grouped(edges: list[tuple[Code, Code]]) -> list[tuple[Code, Code]]:
    """`a >> [b, c]`: one line per upstream task, in task order."""
    by_upstream: dict[Code, list[Code]] = {}
    for before, after in edges:
        by_upstream.setdefault(before, []).append(after)
    out: list[tuple[Code, Code]] = []
    for before, afters in by_upstream.items():
        out.append((before, afters[0] if len(afters) == 1 else Code(f"[{', '.join(afters)}]")))
    return out


def _arguments(pairs: list[tuple[str, object]], indent: int = 2) -> tuple[tuple[Code, Code], ...]:
    """Keyword arguments: `Code` as it is, any other value as a literal that fits its line."""
    return tuple(
        (Code(k), v if isinstance(v, Code) else literal(v, indent, len(k) + 2)) for k, v in pairs
    )


def _common(step: ir.Step) -> list[tuple[str, object]]:
    arguments: list[tuple[str, object]] = [("retries", step.retries)]
    if step.timeout_seconds:
        arguments.append(
            ("execution_timeout", Code(f"datetime.timedelta(seconds={step.timeout_seconds})"))
        )
    if step.description:
        arguments.append(("doc_md", step.description))
    return arguments


def _python_task(step: ir.Step) -> Task:
    arguments = [
        ("task_id", step.name),
        ("python_callable", Code("_mlspec_python_step")),
        ("op_kwargs", {"step": step.name}),
        *_common(step),
    ]
    return _task(step.name, Code("PythonOperator"), _arguments(arguments))


def _container_task(pipeline: ir.Pipeline, step: ir.Step) -> Task:
    def render(text: str) -> str:
        return "".join(
            jinja_text(piece) if isinstance(piece, str) else _placeholder(pipeline, step, *piece)
            for piece in placeholders.split(text)
        )

    arguments: list[tuple[str, object]] = [
        ("task_id", step.name),
        ("name", step.name.replace("_", "-")),
        ("image", jinja_text(step.image or "")),
    ]
    if step.command:
        arguments.append(("cmds", [render(c) for c in step.command]))
    if step.args:
        arguments.append(("arguments", [render(a) for a in step.args]))
    env = {
        e.name: jinja_text(e.value) if e.value is not None else _param_text(pipeline, e.param)
        for e in step.env
        if e.secret is None
    }
    if env:
        arguments.append(("env_vars", env))
    secrets = [e for e in step.env if e.secret is not None]
    if secrets:
        items = ",\n".join(
            f"            Secret('env', {literal(e.name)}, {literal(e.secret.name)}, "
            f"{literal(e.secret.key)})"
            for e in secrets
            if e.secret is not None
        )
        arguments.append(("secrets", Code(f"[\n{items},\n        ]")))
    resources = _resources(step.resources)
    if resources is not None:
        arguments.append(("container_resources", resources))
    arguments += [
        ("labels", {"mlspec/pipeline": pipeline.name, "mlspec/step": step.name}),
        ("volumes", Code("_MLSPEC_VOLUMES")),
        ("volume_mounts", Code("_MLSPEC_VOLUME_MOUNTS")),
        ("do_xcom_push", False),  # outputs travel as files under the artifact root
        *_common(step),
    ]
    return _task(step.name, Code("KubernetesPodOperator"), _arguments(arguments))


def _expression(code: str) -> str:
    """A Jinja expression of mlspec's macros over names and literals that mlspec made."""
    return "{{ " + code + " }}"


def _param_text(pipeline: ir.Pipeline, name: str | None) -> str:
    assert name is not None
    return _expression(f"mlspec_text(params.{identifier(name)})")


def _placeholder(pipeline: ir.Pipeline, step: ir.Step, kind: str, name: str) -> str:
    if kind == "outputs":
        return _expression(f"mlspec_output(run_id, {literal(step.name)}, {literal(name)})")
    item = next(i for i in step.inputs if i.name == name)
    source = item.source
    if isinstance(source, ir.ParamRef):
        return _param_text(pipeline, source.name)
    if isinstance(source, ir.OutputRef):
        where = f"run_id, {literal(source.step)}, {literal(source.output)}"
        if item.is_artifact:
            return _expression(f"mlspec_artifact({where})")
        return _expression(f"mlspec_text(mlspec_value(ti, {where}))")
    value = source.value
    return jinja_text(("true" if value else "false") if isinstance(value, bool) else str(value))


def _resources(resources: ir.Resources) -> Code | None:
    amounts: dict[str, str] = {}
    if resources.cpu:
        amounts["cpu"] = resources.cpu
    if resources.memory:
        amounts["memory"] = resources.memory
    limits = dict(amounts)
    if resources.gpu:
        limits[GPU_RESOURCE] = str(resources.gpu)
    if not limits:
        return None
    return Code(
        "k8s.V1ResourceRequirements(\n"
        f"            requests={literal(amounts)},\n"
        f"            limits={literal(limits)},\n"
        "        )"
    )
