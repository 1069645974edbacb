"""`mlspec run`: one spec, run locally on a real engine, summarised the same way on each.

Prefect runs on the local server PREFECT_API_URL names, else on a temporary one, Kubeflow under
kfp's SubprocessRunner, Airflow with `dag.test()` in an Airflow environment of its own; which
engine a target has is the registry's (backends/registry.py). The run uses a local SQLite MLflow
registry and an artifact folder in the state folder, never the spec's servers; mlspec's own
process never imports MLflow (the engine's driver reads the registry).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlspec.backends import registry
from mlspec.backends.taskdata import task_graph
from mlspec.compiler import ir
from mlspec.run import engines
from mlspec.run.engines import EngineUnavailable, RunRequest
from mlspec.run.state import new_run
from mlspec.run.summary import (
    MONITOR_TASK,
    RunReport,
    gate_reports,
    metrics,
    monitor_verdict,
    tracking_problems,
    verdicts,
)

__all__ = ["EngineUnavailable", "RunReport", "RunRequest", "parse_params", "run_pipeline"]


def parse_params(pipeline: ir.Pipeline, pairs: tuple[str, ...]) -> dict[str, object]:
    """`NAME=VALUE` overrides, typed by the spec; ValueError says which one is wrong."""
    types = {p.name: p.type for p in pipeline.params}
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--param {pair!r}: write NAME=VALUE")
        if name not in types:
            known = ", ".join(types) or "none"
            raise ValueError(f"--param {name!r}: the spec has no such parameter (it has: {known})")
        kind = types[name]
        try:
            if kind.startswith("list["):  # a JSON array: regions=["eu", "us"]
                values[name] = _list_value(text, kind)
            elif kind == "int":
                values[name] = int(text)
            elif kind == "float":
                values[name] = float(text)
            elif kind == "bool":
                if text.lower() not in ("true", "false"):
                    raise ValueError
                values[name] = text.lower() == "true"
            else:
                values[name] = text
        except ValueError:
            how = " as a JSON array, e.g. [1, 2]" if kind.startswith("list[") else ""
            raise ValueError(f"--param {name}={text!r}: expected a {kind}{how}") from None
    return values


def _list_value(text: str, kind: str) -> list:
    """A list parameter's value from JSON text, each element of the list's type."""
    items = json.loads(text)
    element: type | tuple[type, ...] = {"list[str]": str, "list[int]": int}.get(kind, (int, float))
    if not isinstance(items, list) or not all(
        isinstance(i, element) and not isinstance(i, bool) for i in items
    ):
        raise ValueError
    return [float(i) for i in items] if kind == "list[float]" else items


def run_pipeline(request: RunRequest, state_folder: Path) -> RunReport:
    """Run the request's pipeline on its target's engine, with its state in `state_folder`;
    EngineUnavailable, before anything is created, when the engine cannot run it here."""
    target = registry.get(request.target)
    if target.engine is None:
        raise EngineUnavailable(f"target {target.name!r} has no local engine")
    engine = target.engine.load()
    target.engine.load_refuse()(request)
    pipeline, echo = request.pipeline, request.echo
    containers = request.containers
    cluster = engines.kubernetes_cluster(containers) if containers else None
    state = new_run(state_folder, target.name)
    echo(f"mlspec run: {pipeline.name} {pipeline.version} on {target.name}, in {state.run_folder}")
    result = engine(engines.EngineRun(request, state))
    reports = gate_reports(pipeline, state.artifacts)
    gates = verdicts(reports)
    monitor = monitor_verdict(state.artifacts) if pipeline.monitor is not None else None
    blocked = any(v is not None and not v.passed for v in gates.values())
    breached = monitor is not None and bool(monitor.breached)
    decided = "blocked" if blocked else "breached" if breached else "passed"
    outcome = decided if result.ok else "failed"
    notes = []
    if pipeline.registry and any(r.after_rollout for r in pipeline.registry.rules):
        notes.append("rules that wait for the rollout are applied later by `mlspec promote`")
    if containers:  # where they go; the tasks above say how far they got
        notes.append(f"container steps run on Kubernetes, in {cluster}: {', '.join(containers)}")
    logged = state.log.read_text(encoding="utf-8", errors="replace") if state.log.exists() else ""
    untracked = tracking_problems(logged.splitlines())
    if untracked:
        notes.append("tracking incomplete: " + "; ".join(untracked))
    return RunReport(
        pipeline=pipeline.name,
        engine=target.name,
        outcome=outcome,
        detail=result.detail,
        engine_run_id=result.run_id,
        tasks=_in_run_order(pipeline, result.tasks),
        gates=gates,
        metrics=metrics(reports),
        promoted=result.promoted,
        registry_uri=state.registry_uri,
        run_folder=state.run_folder,
        log=state.log,
        notes=notes,
        kind=pipeline.kind,
        monitor=monitor,
        tracking_incomplete=untracked,
    )


def _in_run_order(pipeline: ir.Pipeline, tasks: dict[str, str]) -> dict[str, str]:
    names = [MONITOR_TASK] if pipeline.monitor else [node.name for node in task_graph(pipeline)]
    order = {name: i for i, name in enumerate(names)}
    return dict(sorted(tasks.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
