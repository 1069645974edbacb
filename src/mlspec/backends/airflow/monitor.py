"""IR of a Monitor spec -> the template context of its Airflow DAG file (templates/monitor.py.j2).

Two tasks: `monitor` runs the runtime's `run_monitor` (the same job on every target) and
returns whether it breached; `alarm` announces the breach as the asset
`mlspec://monitor/<name>/breach`, which pipelines with a `monitor` trigger are scheduled on.
The alarm is skipped when nothing breached, so no asset event is raised, as a promotion task
that promoted nothing is skipped. A failed monitor (an anomaly) leaves the alarm upstream_failed:
nothing automatic happens.
"""

from __future__ import annotations

from mlspec.backends import taskdata, templating
from mlspec.backends.airflow import triggers
from mlspec.backends.airflow.dag import (
    Task,
    dag_args,
    keyword_args,
    new_task,
    sdk_imports,
    task_settings,
    task_variable,
)
from mlspec.backends.pysource import Code
from mlspec.compiler import ir

# The runtime beside the DAG file: `tasks` for the report's path, the monitor's job.
RUNTIME: tuple[str, ...] = ("tasks", "monitor:run_monitor")
MONITOR_TASK = "monitor"
ALARM_TASK = "alarm"


def context(pipeline: ir.Pipeline) -> dict[str, object]:
    monitor = pipeline.monitor
    assert monitor is not None
    return {
        **templating.module_context(pipeline),
        "tracking_uri": monitor.model.tracking_uri,
        "sdk_imports": sdk_imports(pipeline, params=False),  # a monitor has none
        "config": taskdata.monitor_data(pipeline),
        "dag_args": dag_args(pipeline),
        "tasks": _tasks(pipeline, monitor),
        "edges": [(task_variable(MONITOR_TASK), task_variable(ALARM_TASK))],
        "runtime_loader": triggers.loader(pipeline, RUNTIME),
    }


def _tasks(pipeline: ir.Pipeline, monitor: ir.Monitor) -> list[Task]:
    model = monitor.model
    judge = [
        ("task_id", MONITOR_TASK),
        ("python_callable", Code("_mlspec_monitor")),
        *task_settings(
            monitor.job.retries,
            monitor.job.timeout_seconds,
            f"Judge what the {model.alias} model of {model.pipeline} was sent against the data "
            "it learned from (and its answers against the labels); act on a breach.",
        ),
    ]
    alarm = [
        ("task_id", ALARM_TASK),
        ("python_callable", Code("_mlspec_alarm")),
        ("doc_md", "The alarm: it succeeds, and so announces it, only when the monitor breached."),
        # Announced only on a breach: otherwise the task is skipped (`_mlspec_alarm`).
        ("outlets", triggers.alarm_outlets(pipeline)),
    ]
    return [
        new_task(MONITOR_TASK, Code("PythonOperator"), keyword_args(judge)),
        new_task(ALARM_TASK, Code("PythonOperator"), keyword_args(alarm)),
    ]
