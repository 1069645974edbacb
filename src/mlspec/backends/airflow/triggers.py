"""Triggers as Airflow 3 assets: what promotion and alarm tasks announce, what a DAG is scheduled
on, and the watcher DAG that turns data arriving at a path into an asset event.

The asset URIs are mlspec's event identities, the same on every target's side:
`mlspec://pipeline/<name>/promoted` and `.../promoted/<alias>` for a promotion,
`mlspec://monitor/<name>/breach` for a monitor's alarm, `file://<path>` for data arrival.
Producers announce whether or not anything listens; a consumer is scheduled on any of its
triggers' assets, or its cron schedule (AssetOrTimeSchedule).

One watcher DAG per data trigger, not one per pipeline: each path is looked at on its own `every`
(a DAG has one schedule), and a slow or failing look at one path never holds up another's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mlspec.backends import runtime_files, templating
from mlspec.backends.pysource import Code, literal
from mlspec.compiler import ir

# An Airflow Variable per watched path keeps its last fingerprint; watchers of one path (in
# several pipelines) share it and raise the same asset, which starts every pipeline on it.
VARIABLE_PREFIX = "mlspec.data."
VARIABLE_KEY_MAX = 250  # Airflow's variable.key column


def promoted_uri(pipeline: str, alias: str | None = None) -> str:
    return f"mlspec://pipeline/{pipeline}/promoted" + (f"/{alias}" if alias else "")


def monitor_uri(monitor: str) -> str:
    return f"mlspec://monitor/{monitor}/breach"


def data_uri(path: str) -> str:
    return f"file://{path}"


def trigger_uri(trigger: ir.Trigger) -> str | None:
    """The asset a `data`, `pipeline` or `monitor` trigger waits for; None for `manual`."""
    if trigger.kind == "data":
        assert trigger.path is not None
        return data_uri(trigger.path)
    if trigger.kind == "pipeline":
        assert trigger.pipeline is not None
        return promoted_uri(trigger.pipeline, trigger.alias)
    if trigger.kind == "monitor":
        assert trigger.monitor is not None
        return monitor_uri(trigger.monitor)
    return None


def _asset(uri: str) -> str:
    return f"Asset({literal(uri)})"


def _outlets(uris: tuple[str, ...]) -> Code:
    return Code("[\n" + "".join(f"            {_asset(u)},\n" for u in uris) + "        ]")


def promotion_outlets(pipeline: ir.Pipeline, alias: str) -> Code:
    """What a successful promotion announces: "promoted", and "promoted to `alias`"."""
    return _outlets((promoted_uri(pipeline.name), promoted_uri(pipeline.name, alias)))


def alarm_outlets(pipeline: ir.Pipeline) -> Code:
    """What a monitor's alarm announces when it breached."""
    return _outlets((monitor_uri(pipeline.name),))


def assets(pipeline: ir.Pipeline) -> tuple[str, ...]:
    """The asset URIs that start a run of `pipeline`, in trigger order, once each."""
    uris = (trigger_uri(t) for t in pipeline.triggers)
    return tuple(dict.fromkeys(u for u in uris if u is not None))


def _any(uris: tuple[str, ...], indent: int) -> str:
    """One asset, or any of several (`AssetAny`, an item a line): a DAG argument's value."""
    if len(uris) == 1:
        return _asset(uris[0])
    pad = "    " * indent
    return "AssetAny(\n" + "".join(f"{pad}    {_asset(u)},\n" for u in uris) + f"{pad})"


def schedule(pipeline: ir.Pipeline, timetable: Code | None) -> Code | None:
    """The DAG's `schedule=`: its assets (any of them) or-ed with the cron `timetable`."""
    uris = assets(pipeline)
    if not uris:
        return timetable
    if timetable is None:
        return Code(_any(uris, 1))
    return Code(
        "AssetOrTimeSchedule(\n"
        f"        timetable={timetable},\n"
        f"        assets={_any(uris, 2)},\n"
        "    )"
    )


# ---- the watcher DAGs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Watcher:
    dag_id: str
    file_name: str
    path: str
    every_seconds: int


def watchers(pipeline: ir.Pipeline) -> list[Watcher]:
    """A watcher DAG per watched path, named after the pipeline and a hash of the path."""
    found: dict[str, Watcher] = {}
    for trigger in pipeline.triggers:
        if trigger.kind != "data":
            continue
        assert trigger.path is not None and trigger.every_seconds is not None
        digest = hashlib.sha256(trigger.path.encode()).hexdigest()[:8]
        dag_id = f"{pipeline.name}__watch_{digest}"
        found.setdefault(
            trigger.path,
            Watcher(dag_id, dag_id.replace("-", "_") + ".py", trigger.path, trigger.every_seconds),
        )
    return list(found.values())


def watcher_text(pipeline: ir.Pipeline, watcher: Watcher, runtime: Code) -> str:
    module = templating.module_context(pipeline)
    return templating.render(
        "mlspec.backends.airflow",
        "watch.py.j2",
        version=module["version"],
        spec_file=module["spec_file"],
        pipeline_name=module["pipeline_name"],
        path=literal(watcher.path),
        variable=literal(variable_key(watcher.path)),
        runtime_loader=runtime,
        dag_id=literal(watcher.dag_id),
        description=literal(f"Data arrival at {watcher.path} for {pipeline.name}"),
        every=Code(str(watcher.every_seconds)),
        outlet=Code(_asset(data_uri(watcher.path))),
    )


def variable_key(path: str) -> str:
    """The Airflow Variable of `path`: named by it, or by its hash when too long for a key."""
    key = VARIABLE_PREFIX + path
    if len(key) <= VARIABLE_KEY_MAX:
        return key
    return f"{VARIABLE_PREFIX}sha256:{hashlib.sha256(path.encode()).hexdigest()}"


def runtime_modules(pipeline: ir.Pipeline, modules: tuple[str, ...]) -> tuple[str, ...]:
    """`modules`, and the data-arrival fingerprint when a watcher DAG loads the package too."""
    return (*modules, "watch") if watchers(pipeline) else modules


def loader(pipeline: ir.Pipeline, modules: tuple[str, ...]) -> Code:
    return runtime_files.loader(runtime_files.package(runtime_modules(pipeline, modules)))
