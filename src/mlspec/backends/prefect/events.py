"""The Prefect events mlspec pipelines emit and their deployments trigger on: one identity per
outcome, which Airflow's assets mirror (`mlspec://pipeline/<name>/promoted[/<alias>]`,
`file://<path>`, `mlspec://monitor/<name>/breach`), so producers need not know their consumers."""

from __future__ import annotations

PROMOTED = "mlspec.pipeline.promoted"
ARRIVED = "mlspec.data.arrived"
BREACH = "mlspec.monitor.breach"
ALIAS_LABEL = "mlspec.alias"


def pipeline_resource(name: str) -> str:
    """The resource id a pipeline's promotion event is about."""
    return f"mlspec.pipeline.{name}"


def data_resource(path: str) -> str:
    """The resource id of a watched path's data-arrival event."""
    return f"mlspec.data.{path}"


def monitor_resource(name: str) -> str:
    """The resource id a monitor's alarm (its breach event) is about."""
    return f"mlspec.monitor.{name}"
