"""The plan of a Monitor spec's one task, `monitor`: mlspec's runtime judges the served model.

KFP has no events: the component returns `breached` (what a recurring run's consumer reads) and
writes the report artifact `report`, where a gate writes its own, so `mlspec run` finds it the
same way. It runs the shared runtime module (runtime.py), as gates and promotions do.
"""

from __future__ import annotations

import json

from mlspec.backends.kubeflow.gates import REPORT
from mlspec.backends.kubeflow.plan import (
    DEFAULT_PYTHON_IMAGE,
    RUNTIME_ENTRY,
    Parameter,
    Plan,
    RunId,
    registry_packages,
    returns,
    signature,
    tracking_uri_code,
)
from mlspec.backends.taskdata import monitor_data
from mlspec.compiler import ir

TASK = "monitor"
BREACHED = "breached"


def monitor_plan(pipeline: ir.Pipeline) -> Plan:
    monitor = pipeline.monitor
    assert monitor is not None
    parameters = (Parameter("run_id", "str", RunId()), Parameter(REPORT, "Output[Artifact]", None))
    outputs = ((BREACHED, "bool"),)
    # Spec text (paths, column names, categories) is in string literals (`repr`), never code.
    config = repr(json.loads(json.dumps(monitor_data(pipeline), sort_keys=True, allow_nan=False)))
    lines = [
        f"def {TASK}({signature(parameters)}, {RUNTIME_ENTRY}: str = {TASK!r}){returns(outputs)}:",
        f"    _mlspec_breached = _mlspec_runtime({TASK!r}).run_monitor(",
        f"        {config},",
        "        run_id=run_id,",
        f"        tracking_uri={tracking_uri_code(pipeline)},",
        f"        report_path={REPORT}.path,",
        "    )",
        "    return (_mlspec_breached,)",
    ]
    job = monitor.job
    return Plan(
        name=TASK,
        kind="monitor",
        parameters=parameters,
        scalar_outputs=outputs,
        source="\n".join(lines) + "\n",
        image=job.image or DEFAULT_PYTHON_IMAGE,
        packages=tuple(dict.fromkeys([*job.packages, *registry_packages(pipeline)])),
        step=None,
        after=(),
        span=monitor.span,
        description="Judge the served model: its inputs, and its answers once labelled.",
        job=job,
    )
