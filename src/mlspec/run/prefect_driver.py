"""Runs a compiled Prefect flow on the real engine and prints one `MLSPEC-RESULT {json}` line.

    python prefect_driver.py FLOW_FILE FUNCTION PARAMS_JSON

With no PREFECT_API_URL, Prefect starts a temporary local server for the run and stops it at
exit; its database lives in PREFECT_HOME.
"""

from __future__ import annotations

import json
import runpy
import sys


def main() -> None:
    path, function, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    flow = runpy.run_path(path, run_name="mlspec_flow")[function]
    state = flow(**params, return_state=True)
    tasks = {}
    flow_run_id = state.state_details.flow_run_id
    if flow_run_id is not None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        tasks = {run.name: run.state.type.value.lower() for run in runs if run.state}
    result = {
        "state": state.type.value.lower(),
        "state_name": state.name,
        "message": state.message,
        "run_id": str(flow_run_id),
        "tasks": dict(sorted(tasks.items())),
    }
    print("MLSPEC-RESULT " + json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
