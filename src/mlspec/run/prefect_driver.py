"""Runs a compiled Prefect flow on the real engine and prints one `MLSPEC-RESULT {json}` line.

    python prefect_driver.py FLOW_FILE FUNCTION PARAMS_JSON REGISTRY_URI MODEL

With no PREFECT_API_URL, Prefect starts a temporary local server for the run and stops it at
exit; its database lives in PREFECT_HOME. With one, the run is a flow run on that server.
MODEL ("" for none) is made ready in the local registry first; the result says what the run
promoted (local_registry.py).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import runpy
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    path, function, params, registry_uri, model = sys.argv[1:6]
    # By its path: importing mlspec.run.local_registry would import all of mlspec.run first.
    registry = runpy.run_path(str(Path(__file__).with_name("local_registry.py")))
    before = registry["ready"](registry_uri, model)
    result: dict[str, Any] = {}
    try:  # what was promoted is reported even when the run itself could not be
        result = run_flow(path, function, json.loads(params))
    finally:
        result["promoted"] = registry["promoted"](registry_uri, model, before)
        print("MLSPEC-RESULT " + json.dumps(result, sort_keys=True), flush=True)


def run_flow(path: str, function: str, params: dict[str, Any]) -> dict[str, Any]:
    flow = runpy.run_path(path, run_name="mlspec_flow")[function]
    state = flow(**params, return_state=True)
    runs = []
    flow_run_id = state.state_details.flow_run_id
    if flow_run_id is not None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
    runs = [run for run in runs if run.state]
    return {  # `runs` holds only task runs that have a state
        "state": state.type.value.lower(),
        "state_name": state.name,
        "message": state.message,
        "run_id": str(flow_run_id),
        "tasks": _task_states(runs),
        "failure": _first_failure(runs),
    }


# A step's state from its mapped task runs' (one per element of its loop): the first of these
# that any of them is in, so that one failed iteration shows as the step failed.
_WORST_FIRST = ("crashed", "failed", "cancelled", "cancelling", "paused", "running", "pending")


def _task_states(runs: list[Any]) -> dict[str, str]:
    """Each step's, gate's and promotion's state; a looped one's from all its iterations."""
    found: dict[str, set[str]] = {}
    for run in runs:
        found.setdefault(_step(run), set()).add(_state_of(run))
    return {
        step: next((s for s in _WORST_FIRST if s in states), min(states))
        for step, states in sorted(found.items())
    }


def _state_of(run: Any) -> str:
    return str(run.state.type.value).lower()


def _task_run_name(run: Any) -> str:
    """The task run's name: a step, gate or promotion, `features[eu]` for an iteration of a
    looped one. A task run is renamed to it when it starts; one that never started (its
    upstream failed) keeps Prefect's `NAME-<3 characters of its dynamic key>`."""
    return str(run.name).removesuffix(f"-{run.dynamic_key[:3]}")


def _step(run: Any) -> str:
    """The task's step, gate or promotion name, without the element of an iteration."""
    return re.sub(r"\[.*\]", "", _task_run_name(run))


def _first_failure(runs: list[Any]) -> dict[str, str] | None:
    """The task that failed first and its error: the run's root cause, where the flow's own
    state may only say that something after it could not run."""
    failed = [r for r in runs if r.state.is_failed() or r.state.is_crashed()]
    if not failed:
        return None
    first = min(failed, key=lambda r: (r.start_time or r.expected_start_time, r.name))
    error = first.state.message or first.state.name
    error = error.removeprefix("Task run encountered an exception ")
    return {"task": _task_run_name(first), "error": error}


_finished = False


def _skip_teardown() -> None:
    """Registered first, so it runs after every other exit handler (Prefect's: its logs sent to
    the API, a temporary server stopped); then exit without the interpreter tearing down
    Prefect's, MLflow's and the flow's modules, which takes a second or more. Not after an
    error: that exits as usual, with its traceback and exit code."""
    if _finished:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    atexit.register(_skip_teardown)
    main()
    _finished = True
