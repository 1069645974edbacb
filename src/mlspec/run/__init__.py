"""`mlspec run`: one spec, run locally on a real engine, summarised the same way on each.

Prefect runs on the local server PREFECT_API_URL names, else on a temporary one, Kubeflow under
kfp's SubprocessRunner, Airflow with `dag.test()` in an Airflow environment of its own. The run
uses a local SQLite MLflow registry and an artifact folder in the state folder, never the spec's
servers; mlspec's own process never imports MLflow (the engine's driver reads the registry).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlspec.backends.taskdata import task_graph
from mlspec.compiler import ir
from mlspec.run import engines
from mlspec.run.engines import EngineUnavailable
from mlspec.run.state import new_run
from mlspec.run.summary import RunReport, gate_reports, metrics, verdicts

ENGINES = ("prefect", "kubeflow", "airflow")
__all__ = ["ENGINES", "EngineUnavailable", "RunReport", "parse_params", "run_pipeline"]


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
            if kind == "int":
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
            raise ValueError(f"--param {name}={text!r}: expected a {kind}") from None
    return values


def run_pipeline(
    pipeline: ir.Pipeline,
    spec_file: Path,
    *,
    engine: str,
    state_folder: Path,
    params: dict[str, object],
    echo: Callable[[str], None],
    verbose: bool = False,
    airflow_python: str | None = None,
) -> RunReport:
    containers = [s.name for s in pipeline.steps if s.kind == "container"]
    cluster = _refuse_what_cannot_run(engine, containers, airflow_python)
    state = new_run(state_folder, engine)
    echo(f"mlspec run: {pipeline.name} {pipeline.version} on {engine}, in {state.run_folder}")
    run = engines.EngineRun(pipeline, state, params, spec_file.resolve().parent, echo, verbose)
    if engine == "prefect":
        result = engines.run_prefect(run)
    elif engine == "airflow":
        assert airflow_python is not None  # refused above
        result = engines.run_airflow(run, airflow_python)
    else:
        result = engines.run_kubeflow(run, spec_file.resolve())
    reports = gate_reports(pipeline, state.artifacts)
    gates = verdicts(reports)
    blocked = any(v is not None and not v.passed for v in gates.values())
    outcome = "failed" if not result.ok else "blocked" if blocked else "passed"
    notes = []
    if pipeline.registry and any(r.after_rollout for r in pipeline.registry.rules):
        notes.append("rules that wait for the rollout are applied later by `mlspec promote`")
    if containers:  # where they go; the tasks above say how far they got
        notes.append(f"container steps run on Kubernetes, in {cluster}: {', '.join(containers)}")
    return RunReport(
        pipeline=pipeline.name,
        engine=engine,
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
    )


def _refuse_what_cannot_run(
    engine: str, containers: list[str], airflow_python: str | None
) -> str | None:
    """Raise EngineUnavailable, before anything is created or started, for what the engine
    cannot run here; else the cluster that the container steps will run in, if any."""
    if engine == "prefect":
        engines.prefect_server()  # a configured server that is not local, or not there
    if engine == "kubeflow" and containers:
        raise EngineUnavailable(
            f"kfp's local subprocess runner cannot run container steps ({', '.join(containers)})"
        )
    if engine == "airflow":
        if not airflow_python:
            raise EngineUnavailable(engines.NO_AIRFLOW)
        engines.check_airflow_python(airflow_python)
    return engines.kubernetes_cluster(containers) if containers else None


def _in_run_order(pipeline: ir.Pipeline, tasks: dict[str, str]) -> dict[str, str]:
    order = {node.name: i for i, node in enumerate(task_graph(pipeline))}
    return dict(sorted(tasks.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
