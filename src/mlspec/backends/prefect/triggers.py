"""Triggers on Prefect: events that tasks emit, deployment triggers that start runs on them.

A promotion task emits `mlspec.pipeline.promoted` (resource `mlspec.pipeline.<name>`, label
`mlspec.alias`) when it promoted; a watcher flow, deployed with an interval schedule of the
trigger's `every`, emits `mlspec.data.arrived` (resource `mlspec.data.<path>`) when the files at
the path changed since its last look (the fingerprint kept in a Prefect Variable keyed by the
path); a monitor flow emits `mlspec.monitor.breach` (resource `mlspec.monitor.<name>`) when its
run breached. A consumer's deployment has one trigger per `triggers:` entry (prefect.yaml
`triggers:`, which `prefect deploy` and `mlspec deploy` turn into automations that run it).

Prefect reads a match value ending in `*` as a prefix of other values: a watched path ending in
`*` is refused, as its trigger would start on data arriving at other paths. (Braces, which
`prefect deploy` would read as placeholders, are refused in every data path by the spec.)
"""

from __future__ import annotations

from mlspec.backends import runtime_files, templating
from mlspec.backends.base import Artifact
from mlspec.backends.prefect.events import (
    ALIAS_LABEL,
    ARRIVED,
    BREACH,
    PROMOTED,
    data_resource,
    monitor_resource,
    pipeline_resource,
)
from mlspec.backends.prefect.flow import module_name
from mlspec.backends.pysource import identifier
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic
from mlspec.runtime import embed

NOT_EXPRESSIBLE = "MS301"


def watched(pipeline: ir.Pipeline) -> list[ir.Trigger]:
    return [t for t in pipeline.triggers if t.kind == "data"]


def watch_file(pipeline: ir.Pipeline) -> str:
    return f"{module_name(pipeline)}_watch.py"


def watch_function(pipeline: ir.Pipeline) -> str:
    name = f"{module_name(pipeline)}_watch"
    return name if name[0].isalpha() else f"pipeline_{name}"


def watch_flow_name(pipeline: ir.Pipeline) -> str:
    return f"{pipeline.name}-watch"


def watch_deployment_name(pipeline: ir.Pipeline, number: int) -> str:
    return f"{pipeline.name}-watch-{number}"


def watcher(pipeline: ir.Pipeline, runtime: embed.Package) -> list[Artifact]:
    """The watcher flow, in a file of its own: it loads Prefect and the fingerprint only, not the
    pipeline's tasks, and the pipeline's flow file stays what it was without data triggers."""
    paths = list(dict.fromkeys(t.path for t in watched(pipeline) if t.path is not None))
    if not paths:
        return []
    text = templating.render(
        "mlspec.backends.prefect",
        "watch.py.j2",
        **templating.module_context(pipeline),
        watched=paths,
        event=ARRIVED,
        flow_name=watch_flow_name(pipeline),
        function=identifier(watch_function(pipeline)),
        runtime_loader=runtime_files.loader(runtime),
    )
    return [Artifact(watch_file(pipeline), text)]


def watch_deployments(pipeline: ir.Pipeline) -> list[dict[str, object]]:
    """One deployment per data trigger: the watcher flow on that path every `every` seconds."""
    return [
        {
            "name": watch_deployment_name(pipeline, number),
            "flow_name": watch_flow_name(pipeline),
            "version": pipeline.version,
            "tags": ["mlspec", "mlspec-watch"],
            "description": f"Looks for new or changed files at {trigger.path} for {pipeline.name}",
            "entrypoint": f"{watch_file(pipeline)}:{watch_function(pipeline)}",
            "parameters": {"path": trigger.path},
            "enforce_parameter_schema": True,
            "schedules": [{"interval": trigger.every_seconds, "active": True}],
        }
        for number, trigger in enumerate(watched(pipeline), start=1)
    ]


def deployment_triggers(pipeline: ir.Pipeline) -> list[dict[str, object]]:
    """prefect.yaml `triggers:` of the pipeline's deployment: one event trigger per trigger."""
    found: list[dict[str, object]] = []
    for trigger in pipeline.triggers:
        if trigger.kind == "pipeline" and trigger.pipeline is not None:
            match = {"prefect.resource.id": pipeline_resource(trigger.pipeline)}
            what = f"{trigger.pipeline} promoted a model"
            if trigger.alias is not None:
                match[ALIAS_LABEL] = trigger.alias
                what += f" to {trigger.alias}"
            found.append(_event_trigger(pipeline, f"after {what}", PROMOTED, match))
        elif trigger.kind == "data" and trigger.path is not None:
            match = {"prefect.resource.id": data_resource(trigger.path)}
            what = f"after data arrived at {trigger.path}"
            found.append(_event_trigger(pipeline, what, ARRIVED, match))
        elif trigger.kind == "monitor" and trigger.monitor is not None:
            match = {"prefect.resource.id": monitor_resource(trigger.monitor)}
            what = f"after monitor {trigger.monitor} raised its alarm"
            found.append(_event_trigger(pipeline, what, BREACH, match))
    return found


def _event_trigger(
    pipeline: ir.Pipeline, what: str, event: str, match: dict[str, str]
) -> dict[str, object]:
    """Each of the first matching event starts one run with the deployment's parameters."""
    return {
        "type": "event",
        "name": f"mlspec {pipeline.name}: {what}",
        "enabled": True,
        "match": match,
        "expect": [event],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
    }


def problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    return [
        Diagnostic(
            trigger.span,
            NOT_EXPRESSIBLE,
            f"the watched path {trigger.path!r} ends in '*', which Prefect reads as a prefix: "
            "the trigger would start on data arriving at every path that begins with the rest",
            "watch the folder itself: drop the trailing '*'",
        )
        for trigger in watched(pipeline)
        if trigger.path is not None and trigger.path.endswith("*")
    ]
