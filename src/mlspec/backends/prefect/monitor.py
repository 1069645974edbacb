"""IR of a Monitor spec -> the template context of its Prefect flow file.

The flow has one task, `monitor`, which runs the runtime's `run_monitor` on the monitor's data
(taskdata.monitor_data, as on every target) and writes its report where a gate's report goes
(task `monitor`, output `report`). When the run breached, the task emits `mlspec.monitor.breach`
about `mlspec.monitor.<name>`: deployments with a `monitor: {name}` trigger start on it.
"""

from __future__ import annotations

from mlspec.backends import runtime_files, taskdata, templating
from mlspec.backends.prefect import events
from mlspec.backends.prefect.flow import flow_args, function_name, runtime_package
from mlspec.backends.pysource import identifier
from mlspec.compiler import ir

TASK = "monitor"
REPORT = "report"


def context(pipeline: ir.Pipeline) -> dict[str, object]:
    monitor = pipeline.monitor
    assert monitor is not None
    return {
        **templating.module_context(pipeline),
        # the watched pipeline's registry, not this spec's (a monitor has none)
        "tracking_uri": monitor.model.tracking_uri,
        "monitor": taskdata.monitor_data(pipeline),
        "task": TASK,
        "report": REPORT,
        "breach_event": events.BREACH,
        "breach_resource": events.monitor_resource(pipeline.name),
        "flow_args": flow_args(pipeline),
        "function": identifier(function_name(pipeline)),
        "runtime_loader": runtime_files.loader(runtime_package(pipeline)),
    }
