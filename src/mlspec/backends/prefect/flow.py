"""IR -> the template context of a Prefect flow file: task data, the flow and its calls.

As for Airflow, everything variable is a `Code` built here: spec values as literals. Nothing in
a Prefect flow is rendered with Jinja at run time, so no string needs more than `repr`.
"""

from __future__ import annotations

from mlspec.backends import lineage, runtime_files, taskdata, templating
from mlspec.backends.prefect import events
from mlspec.backends.pysource import Code, google_docstring, identifier, literal
from mlspec.compiler import ir
from mlspec.runtime import embed
from mlspec.runtime.lineage import CLOSE_TASK, LINEAGE_TASK, TRACK_TASK

# A parameter's annotation in the flow's signature, from which Prefect builds the run form's
# schema: a list parameter is a typed list, which the form takes as a list.
PARAM_TYPES = {
    "float": "float",
    "int": "int",
    "str": "str",
    "bool": "bool",
    "list[str]": "list[str]",
    "list[int]": "list[int]",
    "list[float]": "list[float]",
}


def module_name(pipeline: ir.Pipeline) -> str:
    return pipeline.name.replace("-", "_")


def function_name(pipeline: ir.Pipeline) -> str:
    """The flow function: `<name>_flow`, which no module-level name of the file can shadow."""
    name = f"{module_name(pipeline)}_flow"
    return name if name[0].isalpha() else f"pipeline_{name}"


def file_name(pipeline: ir.Pipeline) -> str:
    return module_name(pipeline) + ".py"


def context(pipeline: ir.Pipeline) -> dict[str, object]:
    return {
        **templating.module_context(pipeline),
        "steps": {
            s.name: taskdata.step_data(s) if s.kind != "container" else taskdata.container_data(s)
            for s in pipeline.steps
        },
        "gates": {g.name: taskdata.gate_data(g) for g in pipeline.gates},
        "loops": taskdata.loops_data(pipeline),
        "promotions": {
            r.alias: taskdata.promotion_data(pipeline, r) for r in taskdata.promotions(pipeline)
        },
        "task_options": {s.name: _options(s) for s in pipeline.steps},
        "cached": [s.name for s in pipeline.steps if s.caching],
        "promoted_event": events.PROMOTED,
        "promoted_resource": events.pipeline_resource(pipeline.name),
        "flow_args": flow_args(pipeline),
        "function": identifier(function_name(pipeline)),
        "signature": _signature(pipeline),
        "docstring": _docstring(pipeline),
        "params_dict": _params_dict(pipeline),
        "calls": [_call(node) for node in taskdata.task_graph(pipeline)],
        "runtime_loader": runtime_files.loader(runtime_package(pipeline)),
        **_tracking(pipeline),
    }


def _tracking(pipeline: ir.Pipeline) -> dict[str, object]:
    """The run's lineage (backends/lineage.py): what the flow's MLflow run records of its origin,
    every dataset with its readers, and the names of mlspec's own tasks that record them."""
    if not lineage.tracked(pipeline):
        return {"tracked": False}
    return {
        "tracked": True,
        "identity": lineage.file_identity(pipeline),
        "datasets": lineage.dataset_readers(pipeline),
        "tracking_tasks": {"track": TRACK_TASK, "lineage": LINEAGE_TASK, "close": CLOSE_TASK},
    }


def _options(step: ir.Step) -> dict[str, object]:
    options: dict[str, object] = {"retries": step.retries}
    if step.timeout_seconds:
        options["timeout_seconds"] = step.timeout_seconds
    return options


def runtime_package(pipeline: ir.Pipeline) -> embed.Package:
    """The runtime beside the flow: the task bodies (a monitor's job and where its report goes,
    for a Monitor spec), the caching module when a step caches, and the data fingerprint when a
    data trigger's watcher looks at a path."""
    modules: tuple[str, ...] = ("tasks",)
    if pipeline.monitor is not None:
        modules = ("monitor:run_monitor", "tasks:output_path")
    if any(s.caching for s in pipeline.steps):
        modules += ("cache",)
    if any(t.kind == "data" for t in pipeline.triggers):
        modules += ("watch:arrived",)
    return runtime_files.package(modules)


def flow_args(pipeline: ir.Pipeline) -> list[tuple[Code, Code]]:
    args: list[tuple[str, object]] = [("name", pipeline.name), ("version", pipeline.version)]
    if pipeline.description:
        args.append(("description", pipeline.description))
    args += [("validate_parameters", True), ("log_prints", True)]
    return [(Code(k), literal(v, 1, len(k) + 1)) for k, v in args]


def _signature(pipeline: ir.Pipeline) -> Code:
    if not pipeline.params:
        return Code("")
    items = []
    for p in pipeline.params:
        head = f"{identifier(p.name)}: {PARAM_TYPES[p.type]} = "
        items.append(f"    {head}{literal(param_default(p), 1, len(head) + 1)},")
    return Code("\n" + "\n".join(items) + "\n")


def param_default(param: ir.Param) -> object:
    """A parameter's default as Prefect takes it: a list parameter's as a list."""
    return list(param.default) if isinstance(param.default, tuple) else param.default


def _docstring(pipeline: ir.Pipeline) -> Code | None:
    """The flow's docstring, whose Args section Prefect reads as the parameters' descriptions."""
    described = [(p.name, p.description) for p in pipeline.params if p.description]
    if not described:
        return None
    return literal(google_docstring(pipeline.description or pipeline.name, described))


def _params_dict(pipeline: ir.Pipeline) -> Code:
    items = [f"{literal(p.name)}: {identifier(p.name)}" for p in pipeline.params]
    flat = "{" + ", ".join(items) + "}"
    if len(flat) <= 60:
        return Code(flat)
    return Code("{\n" + "".join(f"        {item},\n" for item in items) + "    }")


def _call(node: taskdata.TaskNode) -> Code:
    after = literal(list(node.after))
    gates = literal(list(node.gates))
    if node.kind == "step":
        return Code(f"mlspec_run.step({literal(node.name)}, after={after}, gates={gates})")
    if node.kind == "gate":
        return Code(f"mlspec_run.gate({literal(node.name)}, after={after})")
    subject, name = literal(node.subject), literal(node.name)
    return Code(f"mlspec_run.promote({subject}, {name}, after={after}, gates={gates})")
