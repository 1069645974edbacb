"""IR -> the template context of an Airflow DAG file: task data, operators and their arguments.

Everything variable in the DAG file is decided here and handed to the template as `Code`:
spec values as literals (`pysource.literal`); strings that Airflow renders with Jinja at run time
(container image, command, arguments, env) first pass through `pysource.jinja_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlspec.backends import lineage, placeholders, taskdata, templating
from mlspec.backends.airflow import triggers
from mlspec.backends.pysource import WIDTH, Code, identifier, jinja_text, literal
from mlspec.compiler import ir
from mlspec.runtime.lineage import CLOSE_TASK, LINEAGE_TASK, TRACK_TASK
from mlspec.runtime.tasks import MAX_ITEMS

PARAM_TYPES = {"float": "number", "int": "integer", "str": "string", "bool": "boolean"}
# A loop's own tasks (mlspec's reserved prefix): the group of its members, and the task that
# hands a list parameter's validated value to the group's expansion (an XComArg).
LOOP_GROUP = "mlspec_loop_"
ITEMS_TASK = "mlspec_items_"
# The runtime modules beside the DAG file: the task bodies and what they use.
RUNTIME: tuple[str, ...] = ("tasks",)


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
    blocks, edges = _blocks(pipeline)
    tasks = [t for b in blocks for t in (b.tasks if isinstance(b, LoopGroup) else (b,))]
    tracked = lineage.tracked(pipeline)
    tracking = _tracking(pipeline, tasks) if tracked else None
    return {
        **templating.module_context(pipeline),
        "secrets": any(e.secret for s in containers for e in s.env),
        "sdk_imports": sdk_imports(pipeline),
        "steps": {s.name: _step_data(s) for s in pipeline.steps},
        "gates": {g.name: taskdata.gate_data(g) for g in pipeline.gates},
        "promotions": {
            r.alias: taskdata.promotion_data(pipeline, r) for r in taskdata.promotions(pipeline)
        },
        "tracked": tracked,
        "identity": lineage.identity(pipeline) if tracked else None,
        "datasets": lineage.dataset_readers(pipeline) if tracked else None,
        "loops": taskdata.loops_data(pipeline),
        "item_gates": any(g.loop is not None for g in pipeline.gates),
        "dag_args": dag_args(pipeline),
        "blocks": [*blocks, *(tracking.tasks if tracking else ())],
        "edges": edges,
        "tracking": tracking,
        "runtime_loader": triggers.loader(pipeline, RUNTIME),
    }


def _step_data(step: ir.Step) -> dict[str, object]:
    """A step's task data; a container step's inputs too where the runtime reads them when
    its templates render (`mlspec_input`)."""
    data = taskdata.step_data(step)
    if step.kind == "container" and any(_runtime_reads(step, i) for i in step.inputs):
        data["inputs"] = taskdata.inputs_data(step)
    return data


def _runtime_reads(step: ir.Step, item: ir.Input) -> bool:
    """Whether a container step's input depends on its task's iteration (or on every one: a
    fan-in): the element, a looped step's output."""
    source = item.source
    looped = step.loop is not None and isinstance(source, ir.OutputRef)
    return looped or isinstance(source, ir.Item | ir.FanIn)


def sdk_imports(pipeline: ir.Pipeline, *, params: bool = True) -> Code:
    """What the DAG file imports from airflow.sdk: DAG first, then what its schedule uses."""
    names = {"Param"} if params else set()
    if pipeline.loops:
        names.add("task_group")
    uris = triggers.assets(pipeline)
    if pipeline.schedule is not None:
        names.add("CronTriggerTimetable")
    if uris or taskdata.promotions(pipeline) or pipeline.monitor is not None:
        names.add("Asset")  # what a DAG is scheduled on, or what its tasks announce
    if len(uris) > 1:
        names.add("AssetAny")
    if uris and pipeline.schedule is not None:
        names.add("AssetOrTimeSchedule")
    return Code(", ".join(["DAG", *sorted(names)]))


# ---- the DAG and its tasks -----------------------------------------------------------------


def dag_args(pipeline: ir.Pipeline) -> tuple[tuple[Code, Code], ...]:
    args: list[tuple[str, object]] = [("dag_id", pipeline.name)]
    if pipeline.description:
        args.append(("description", pipeline.description))
    schedule = pipeline.schedule
    timetable = None
    if schedule is not None:
        timetable = Code(
            f"CronTriggerTimetable({literal(schedule.cron)}, timezone={literal(schedule.timezone)})"
        )
    args.append(("schedule", triggers.schedule(pipeline, timetable)))
    if schedule is not None:
        args.append(("is_paused_upon_creation", schedule.paused))
    elif triggers.assets(pipeline):  # declared triggers act from the start, as a schedule does
        args.append(("is_paused_upon_creation", False))
    args.append(("start_date", Code("datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)")))
    args.append(("catchup", False))
    tags = ["mlspec", *(f"{k}:{v}" for k, v in pipeline.labels)]
    args.append(("tags", tags))
    if pipeline.owners:
        args.append(("default_args", {"owner": ", ".join(pipeline.owners)}))
    if pipeline.params:
        args.append(("params", _params(pipeline)))
    return keyword_args(args, indent=1)


def _params(pipeline: ir.Pipeline) -> Code:
    lines = ["{"]
    for p in pipeline.params:
        if p.is_list:  # a JSON array of the element type, as long as a loop may be
            element = PARAM_TYPES[p.type.removeprefix("list[").removesuffix("]")]
            arguments = [
                literal(p.default),
                "type='array'",
                f"items={literal({'type': element})}",
                f"maxItems={MAX_ITEMS}",
            ]
        else:
            arguments = [literal(p.default), f"type={literal(PARAM_TYPES[p.type])}"]
        if p.description:
            arguments.append(f"description={literal(p.description)}")
        line = f"        {literal(p.name)}: Param({', '.join(arguments)}),"
        if p.is_list and len(line) > WIDTH:  # one argument a line
            arguments[0] = literal(p.default, 3)
            rows = [f"        {literal(p.name)}: Param(", *(f"            {a}," for a in arguments)]
            line = "\n".join([*rows, "        ),"])
        lines.append(line)
    lines.append("    }")
    return Code("\n".join(lines))


def task_variable(name: str) -> Code:
    return identifier(f"{name}_task")


def new_task(name: str, operator: Code, arguments: tuple[tuple[Code, Code], ...]) -> Task:
    return Task(name, task_variable(name), operator, arguments)


@dataclass(frozen=True)
class LoopGroup:
    """A loop as a mapped task group: its members (step names as task ids, the group adding no
    prefix) run once per element, each task reading its element by its map index."""

    function: Code
    group_id: Code
    items: Code  # the written list, or the XComArg of the list parameter's ITEMS_TASK
    tasks: tuple[Task, ...]
    edges: tuple[tuple[Code, Code], ...]  # between its members

    @property
    def returned(self) -> Code:
        """The members' variables, which the group returns for the edges outside it."""
        return Code(", ".join(t.variable for t in self.tasks))


def _blocks(pipeline: ir.Pipeline) -> tuple[list[Task | LoopGroup], list[tuple[Code, Code]]]:
    """The DAG's tasks in run order, a loop's members together in its group at the place of
    the first; the edges between tasks of one loop go in its group, the others after all."""
    loop_of = {name: loop for loop in pipeline.loops for name in (*loop.steps, *loop.gates)}
    members: dict[str, list[Task]] = {loop.name: [] for loop in pipeline.loops}
    inside: dict[str, list[tuple[Code, Code]]] = {loop.name: [] for loop in pipeline.loops}
    blocks: list[Task | str] = []  # a loop's name where its group goes
    edges: list[tuple[Code, Code]] = []
    for node in taskdata.task_graph(pipeline):
        task = _task(pipeline, node)
        loop = loop_of.get(node.name)
        if loop is None:
            blocks.append(task)
        else:
            if not members[loop.name]:
                blocks += [t for t in _items_task(loop) if t not in blocks]
                blocks.append(loop.name)
            members[loop.name].append(task)
        for before in dict.fromkeys([*node.after, *node.gates]):
            edge = (task_variable(before), task.variable)
            if loop is not None and loop_of.get(before) is loop:
                inside[loop.name].append(edge)
            else:
                edges.append(edge)
    groups = {
        loop.name: LoopGroup(
            identifier(LOOP_GROUP + loop.name),
            literal(LOOP_GROUP + loop.name),
            _items(loop),
            tuple(members[loop.name]),
            tuple(_grouped(inside[loop.name])),
        )
        for loop in pipeline.loops
    }
    return [groups[b] if isinstance(b, str) else b for b in blocks], _grouped(edges)


def _task(pipeline: ir.Pipeline, node: taskdata.TaskNode) -> Task:
    if node.kind == "step":
        step = pipeline.step(node.subject)
        python = step.kind != "container"  # a notebook step runs in the worker too
        return _python_task(step) if python else _container_task(pipeline, step)
    if node.kind == "gate":
        return _gate_task(pipeline.gate(node.subject))
    return _promotion_task(pipeline, node)


def _items(loop: ir.Loop) -> Code:
    if isinstance(loop.items, ir.ParamRef):
        return Code(f"{task_variable(ITEMS_TASK + loop.items.name)}.output")
    return literal(list(loop.items), 2, len("item="))


def _items_task(loop: ir.Loop) -> list[Task]:
    """A list parameter's task: its value for this run, checked, for the group to expand on."""
    if not isinstance(loop.items, ir.ParamRef):
        return []
    name = ITEMS_TASK + loop.items.name
    arguments = [
        ("task_id", name),
        ("python_callable", Code("_mlspec_items")),
        ("op_kwargs", {"loop": loop.name}),
        ("doc_md", f"The elements of parameter {loop.items.name!r} that this run loops over."),
    ]
    return [new_task(name, Code("PythonOperator"), keyword_args(arguments))]


@dataclass(frozen=True)
class Tracking:
    """mlspec's own tasks around the pipeline's, and where they stand (runtime lineage)."""

    tasks: tuple[Task, ...]
    edges: tuple[tuple[Code, Code], ...]
    close: Code
    track: Code


def _tracking(pipeline: ir.Pipeline, tasks: list[Task]) -> Tracking:
    """TRACK_TASK before every root task, LINEAGE_TASK after every step, CLOSE_TASK after
    every task: Airflow's teardown of TRACK_TASK, so that it runs however the run ended (a
    ShortCircuitOperator never skips a teardown) and leaves the run's state to the other tasks."""

    def tracking_task(name: str, callable_name: str, doc: str) -> Task:
        arguments = [("task_id", name), ("python_callable", Code(callable_name)), ("doc_md", doc)]
        return new_task(name, Code("PythonOperator"), keyword_args(arguments))

    track = tracking_task(TRACK_TASK, "_mlspec_track", "Open this run's MLflow run.")
    record = tracking_task(
        LINEAGE_TASK, "_mlspec_lineage", "Record every step's outputs and datasets in MLflow."
    )
    close = tracking_task(CLOSE_TASK, "_mlspec_close", "End this run's MLflow run.")
    roots = [
        task_variable(n.name) for n in taskdata.task_graph(pipeline) if not (n.after or n.gates)
    ]
    steps = [task_variable(s.name) for s in pipeline.steps]
    return Tracking(
        (track, record, close),
        (
            (track.variable, _listed(roots)),
            (_listed(steps), record.variable),
            (_listed([t.variable for t in [*tasks, record]]), close.variable),
        ),
        close.variable,
        track.variable,
    )


def _listed(variables: list[Code]) -> Code:
    """One task as itself, several as a list (`a >> [b, c]`, `[a, b] >> c`)."""
    return variables[0] if len(variables) == 1 else Code(f"[{', '.join(variables)}]")


def _gate_task(gate: ir.Gate) -> Task:
    """A gate that blocks: a ShortCircuitOperator, which skips everything after it. A per-item
    gate's task skips itself instead (`_mlspec_item_gate`): Airflow skips what waits for that
    map index, and everything outside its loop, by their trigger rules. (A mapped
    ShortCircuitOperator in a mapped task group skips nothing: NotPreviouslySkippedDep reads
    its decision at map index -1.)"""
    looped = gate.loop is not None
    block = gate.on_fail == "block" and not looped
    arguments = [
        ("task_id", gate.name),
        ("python_callable", Code("_mlspec_item_gate" if looped else "_mlspec_gate")),
        ("op_kwargs", {"gate": gate.name}),
    ]
    if gate.description:
        arguments.append(("doc_md", gate.description))
    operator = Code("ShortCircuitOperator" if block else "PythonOperator")
    return new_task(gate.name, operator, keyword_args(arguments, _indent(gate)))


def _indent(node: ir.Step | ir.Gate) -> int:
    """How deep a task's arguments sit: a loop's members are in its group's function."""
    return 2 if node.loop is None else 3


def _promotion_task(pipeline: ir.Pipeline, node: taskdata.TaskNode) -> Task:
    arguments = [
        ("task_id", node.name),
        ("python_callable", Code("_mlspec_promote")),
        ("op_kwargs", {"alias": node.subject}),
        ("doc_md", f"Promote the model to {node.subject!r} once {', '.join(node.gates)} passed."),
        # Announced only when it promoted: otherwise the task is skipped (`_mlspec_promote`).
        ("outlets", triggers.promotion_outlets(pipeline, node.subject)),
    ]
    return new_task(node.name, Code("PythonOperator"), keyword_args(arguments))


def _grouped(edges: list[tuple[Code, Code]]) -> list[tuple[Code, Code]]:
    """`a >> [b, c]`: one line per upstream task, in task order."""
    by_upstream: dict[Code, list[Code]] = {}
    for before, after in edges:
        by_upstream.setdefault(before, []).append(after)
    return [(before, _listed(afters)) for before, afters in by_upstream.items()]


def keyword_args(
    pairs: Sequence[tuple[str, object]], indent: int = 2
) -> tuple[tuple[Code, Code], ...]:
    """Keyword arguments: `Code` as it is, any other value as a literal that fits its line."""
    return tuple(
        (Code(k), v if isinstance(v, Code) else literal(v, indent, len(k) + 2)) for k, v in pairs
    )


def _common(step: ir.Step) -> list[tuple[str, object]]:
    return task_settings(step.retries, step.timeout_seconds, step.description)


def task_settings(
    retries: int, timeout_seconds: int | None, description: str
) -> list[tuple[str, object]]:
    """A task's retries, timeout and docs, as Airflow takes them."""
    arguments: list[tuple[str, object]] = [("retries", retries)]
    if timeout_seconds:
        arguments.append(
            ("execution_timeout", Code(f"datetime.timedelta(seconds={timeout_seconds})"))
        )
    if description:
        arguments.append(("doc_md", description))
    return arguments


def _python_task(step: ir.Step) -> Task:
    arguments = [
        ("task_id", step.name),
        ("python_callable", Code("_mlspec_python_step")),
        ("op_kwargs", {"step": step.name}),
        *_common(step),
    ]
    return new_task(step.name, Code("PythonOperator"), keyword_args(arguments, _indent(step)))


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
        e.name: jinja_text(e.value) if e.value is not None else _param_text(e.param)
        for e in step.env
        if e.secret is None
    }
    if env:
        arguments.append(("env_vars", env))
    indent = _indent(step)
    pad = "    " * indent
    secrets = [e for e in step.env if e.secret is not None]
    if secrets:
        items = ",\n".join(
            f"{pad}    Secret('env', {literal(e.name)}, {literal(e.secret.name)}, "
            f"{literal(e.secret.key)})"
            for e in secrets
            if e.secret is not None
        )
        arguments.append(("secrets", Code(f"[\n{items},\n{pad}]")))
    resources = _resources(step, pad)
    if resources is not None:
        arguments.append(("container_resources", resources))
    arguments += _placement(step.placement)
    arguments += [
        ("labels", {"mlspec/pipeline": pipeline.name, "mlspec/step": step.name}),
        ("volumes", Code("_MLSPEC_VOLUMES")),
        ("volume_mounts", Code("_MLSPEC_VOLUME_MOUNTS")),
        ("do_xcom_push", False),  # outputs travel as files under the artifact root
        *_common(step),
    ]
    return new_task(step.name, Code("KubernetesPodOperator"), keyword_args(arguments, indent))


def _expression(code: str) -> str:
    """A Jinja expression of mlspec's macros over names and literals that mlspec made."""
    return "{{ " + code + " }}"


def _param_text(name: str | None, cast: str = "") -> str:
    assert name is not None
    return _expression(f"mlspec_text(params.{identifier(name)}{cast})")


def _cast(pipeline: ir.Pipeline, item: ir.Input) -> str:
    """`, 'float'` where the input declares a wider type than its source's (an int read as a
    float), so that the container sees `10.0` as on the other targets; else nothing."""
    source = item.source
    if isinstance(source, ir.ParamRef):
        kind: str = next(p.type for p in pipeline.params if p.name == source.name)
    else:
        assert isinstance(source, ir.OutputRef)
        kind = next(o.type for o in pipeline.step(source.step).outputs if o.name == source.output)
    return "" if kind == item.type else f", {literal(item.type)}"


def _placeholder(pipeline: ir.Pipeline, step: ir.Step, kind: str, name: str) -> str:
    if kind == "outputs":
        index = "" if step.loop is None else ", ti.map_index"  # a looped step's: its iteration's
        return _expression(f"mlspec_output(run_id, {literal(step.name)}, {literal(name)}{index})")
    item = next(i for i in step.inputs if i.name == name)
    source = item.source
    if isinstance(source, ir.ParamRef):
        return _param_text(source.name, _cast(pipeline, item))
    if _runtime_reads(step, item):
        where = f"ti, params, run_id, {literal(step.name)}, {literal(name)}"
        cast = _cast(pipeline, item) if isinstance(source, ir.OutputRef) else ""
        return _expression(f"mlspec_text(mlspec_input({where}){cast})")
    if isinstance(source, ir.OutputRef):
        where = f"run_id, {literal(source.step)}, {literal(source.output)}"
        if item.is_artifact:
            return _expression(f"mlspec_artifact({where})")
        return _expression(f"mlspec_text(mlspec_value(ti, {where}){_cast(pipeline, item)})")
    assert isinstance(source, ir.Constant)
    value = source.value
    return jinja_text(("true" if value else "false") if isinstance(value, bool) else str(value))


def _resources(step: ir.Step, pad: str) -> Code | None:
    requests, limits = taskdata.resource_amounts(step)
    if not limits:
        return None
    return Code(
        "k8s.V1ResourceRequirements(\n"
        f"{pad}    requests={literal(requests)},\n"
        f"{pad}    limits={literal(limits)},\n"
        f"{pad})"
    )


def _placement(placement: ir.Placement) -> list[tuple[str, object]]:
    """The pod's node selector and tolerations, as the operator's own arguments. It reads a
    toleration mapping as the Kubernetes API's JSON (tolerationSeconds): a snake_case key would
    be dropped without a word."""
    arguments: list[tuple[str, object]] = []
    if placement.node_selector:
        arguments.append(("node_selector", dict(placement.node_selector)))
    if placement.tolerations:
        tolerations = [taskdata.toleration_data(t) for t in placement.tolerations]
        arguments.append(("tolerations", tolerations))
    return arguments
