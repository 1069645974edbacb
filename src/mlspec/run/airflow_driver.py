"""Runs inside an Airflow 3 environment, by file path; prints one `MLSPEC-RESULT {json}` line.

`mlspec run --target airflow` and the tests run it with an Airflow interpreter (Airflow cannot
share an environment with prefect, so it never imports mlspec: standard library and airflow).

    python airflow_driver.py dagbag FOLDER       load FOLDER as the DAG processor would
    python airflow_driver.py render FOLDER       render every task's templated fields
    python airflow_driver.py test FILE CONF REGISTRY_URI MODEL [TASKS]
                                                 dag.test() the DAG in FILE with run conf CONF;
                                                 MODEL ("" for none) made ready in the local
                                                 registry first, what the run promoted reported;
                                                 TASKS (comma-separated): only those tasks,
                                                 in the run of ONLY_RUN_DATE (its id known
                                                 ahead: the caller can prepare its artifacts)

Needs AIRFLOW_HOME (and for `test`, a migrated database in it) from the caller.
"""

from __future__ import annotations

import contextlib
import json
import runpy
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ONLY_RUN_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def _dagbag(folder: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    # safe_mode: skip files without "airflow" and "dag", exactly as the DAG processor does.
    return DagBag(dag_folder=folder, safe_mode=True, known_pools={"default_pool"})


def _seconds(value: object) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else None


def _condition(condition: Any) -> object:
    """An asset condition as data: an asset's URI, {"any"|"all": [...]} for the rest."""
    if hasattr(condition, "uri"):
        return condition.uri
    kind = type(condition).__name__.removeprefix("Asset").lower()  # AssetAny, AssetAll
    return {kind: [_condition(c) for c in condition.objects]}


def _schedule(timetable: Any) -> dict:
    """The DAG's schedule: its (cron) timetable and the assets that start it, if any."""
    inner = getattr(timetable, "timetable", None)  # AssetOrTimeSchedule: assets or time
    condition = getattr(timetable, "asset_condition", None)
    shown = inner or timetable
    return {
        "timetable": type(timetable).__name__,
        "schedule": getattr(shown, "expression", None),
        "timezone": str(getattr(shown, "timezone", "")),
        "every": _seconds(getattr(shown, "delta", None)),
        "assets": None if condition is None else _condition(condition),
    }


def describe(folder: str) -> dict:
    bag = _dagbag(folder)
    dags = {}
    for dag_id, dag in sorted(bag.dags.items()):
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            **_schedule(dag.timetable),
            "is_paused_upon_creation": dag.is_paused_upon_creation,
            "tags": sorted(dag.tags),
            "owner": dag.owner,
            "params": {name: dag.params.get_param(name).resolve() for name in dag.params},
            "tasks": {
                task.task_id: {
                    "operator": type(task).__name__,
                    "upstream": sorted(task.upstream_task_ids),
                    "retries": task.retries,
                    "execution_timeout": _seconds(task.execution_timeout),
                    "pool": task.pool,
                    "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
                    "setup": task.is_setup,
                    "teardown": task.is_teardown,
                    "outlets": [o.uri for o in task.outlets],
                    "loop": _loop_group(task),
                }
                for task in dag.tasks
            },
        }
    return {
        "import_errors": bag.import_errors,
        "captured_warnings": {k: list(v) for k, v in bag.captured_warnings.items()},
        "dag_warnings": sorted(str(w.message) for w in bag.dag_warnings),
        "dags": dags,
    }


def _loop_group(task: Any) -> str | None:
    """The mapped task group a task runs in (once per element of a loop), if any."""
    group = task.get_closest_mapped_task_group()
    return None if group is None else group.group_id


def _conf(dag: Any, conf: dict) -> dict:
    """A list parameter given as JSON text (`mlspec run --param NAME=[...]`) as the array
    that its Param takes; anything else as it is, for Airflow to judge."""
    found = dict(conf)
    for name, value in conf.items():
        array = name in dag.params and dag.params.get_param(name).schema.get("type") == "array"
        if array and isinstance(value, str):
            with contextlib.suppress(ValueError):
                found[name] = json.loads(value)
    return found


def run(path: str, conf: dict, only: str = "") -> dict:
    bag = _dagbag(path)
    if bag.import_errors:
        return {"import_errors": dict(bag.import_errors)}
    [dag] = bag.dags.values()
    conf = _conf(dag, conf)
    if only:  # these tasks alone, as a cleared task runs again: without their upstream
        dag = dag.partial_subset(only.split(","), include_upstream=False)
        dag_run = dag.test(run_conf=conf, logical_date=ONLY_RUN_DATE, run_after=ONLY_RUN_DATE)
    else:
        dag_run = dag.test(run_conf=conf)
    return {
        "state": dag_run.state,
        "run_id": dag_run.run_id,
        "tasks": _states(dag_run.get_task_instances()),
        "asset_events": _asset_events(dag.dag_id, dag_run.run_id),
    }


def _states(instances: list[Any]) -> dict[str, str]:
    """Each task's final state. A mapped task (a loop's step or gate) has one per map index,
    reported as TASK.INDEX, and as TASK the state they share, else how many ended in which
    ("skipped 1, success 2"); a loop over no element leaves one skipped, unexpanded instance."""
    found: dict[str, dict[int, str]] = {}
    for ti in instances:
        found.setdefault(ti.task_id, {})[ti.map_index] = str(getattr(ti.state, "value", ti.state))
    tasks: dict[str, str] = {}
    for task, by_index in found.items():
        states = sorted(by_index.values())
        shared = {state: states.count(state) for state in states}
        tasks[task] = (
            states[0] if len(shared) == 1 else ", ".join(f"{s} {n}" for s, n in shared.items())
        )
        if -1 not in by_index:
            tasks |= {f"{task}.{index}": state for index, state in sorted(by_index.items())}
    return dict(sorted(tasks.items()))


def _asset_events(dag_id: str, run_id: str) -> list[str]:
    """The URIs of the asset events the run raised, as the scheduler sees them: in order."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = (
        select(AssetModel.uri)
        .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        .where(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
        .order_by(AssetEvent.id)
    )
    with create_session() as session:
        return list(session.scalars(query))


def render(folder: str) -> dict:
    """Every task's templated fields as Airflow renders them for a run (no database needed)."""
    bag = _dagbag(folder)
    out = {}
    for dag in bag.dags.values():
        params = {name: dag.params.get_param(name).resolve() for name in dag.params}
        for task in dag.tasks:
            context: dict[str, Any] = {
                "params": params,
                "run_id": "manual__2026-01-01T00:00:00+00:00",
            }
            context |= {"dag": dag, "task": task, "ti": None}
            task.render_template_fields(context)
            out[task.task_id] = {
                field: _plain(getattr(task, field)) for field in task.template_fields
            }
    return out


def _plain(value: object) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "to_dict"):  # kubernetes client models
        return _plain(value.to_dict())
    return repr(value)


def test(path: str, conf: dict, registry_uri: str, model: str, only: str = "") -> None:
    registry = runpy.run_path(str(Path(__file__).with_name("local_registry.py")))  # no mlspec
    before = registry["ready"](registry_uri, model)
    result: dict = {}
    try:  # what was promoted is reported even when the run itself could not be
        result = run(path, conf, only)
    finally:
        result["promoted"] = registry["promoted"](registry_uri, model, before)
        _report(result)


def _report(result: dict) -> None:
    print("MLSPEC-RESULT " + json.dumps(result, default=str, sort_keys=True), flush=True)


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "dagbag":
        _report(describe(args[0]))
    elif command == "render":
        _report(render(args[0]))
    elif command == "test":
        test(args[0], json.loads(args[1]), *args[2:])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
