"""`--run` and `--wait` of a Prefect deploy: trigger a flow run of the deployment, follow it to
its end, and report its gates' verdicts and promotions from its logs (deploy/verdicts.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlspec.deploy import verdicts
from mlspec.deploy.common import Action, DeployError, Request, TimedOut
from mlspec.deploy.prefect.api import Api
from mlspec.deploy.prefect.settings import Settings
from mlspec.deploy.prefect.wanted import Wanted
from mlspec.run.summary import GateVerdict
from mlspec.runtime.lineage import CLOSE_TASK, LINEAGE_TASK, TRACK_TASK

# How often --wait polls the flow run, and how long it waits for the run's last logs.
POLL_SECONDS = 1.0
LOG_GRACE_SECONDS = 15.0
# After this long without a worker picking the run up, --wait says what it is waiting for.
LATE_HINT_SECONDS = 30.0


def run_deployment(
    api: Api, request: Request, settings: Settings, item: Wanted, ids: dict[str, Any]
) -> Action:
    """Trigger a flow run of the deployment; with --wait, follow it and report its verdicts."""
    deployment_id = ids[item.full_name]
    request.echo(f"deployed {item.full_name} version {item.version}")
    key = f"mlspec-deploy-{uuid.uuid4()}"  # a retried trigger returns the same run
    run = api.call(
        f"triggering a flow run of {item.full_name}",
        lambda c: c.create_flow_run_from_deployment(deployment_id, idempotency_key=key),
    )
    ui = settings.shown_url.removesuffix("/api")
    request.echo(f"flow run {run.name} ({run.id}) triggered: {ui}/runs/flow-run/{run.id}")
    if not request.wait:
        return Action("create", f"flow run {run.name}", str(run.id))
    try:
        final, failed_tasks = _follow(api, run.id, request.echo, settings.work_pool)
    except (KeyboardInterrupt, TimedOut) as exc:
        why = f"{exc}: " if isinstance(exc, TimedOut) else "stopped waiting: "
        raise DeployError(
            f"{why}the flow run {run.name} ({run.id}) goes on on the server\n"
            f"  the deployment {item.full_name} version {item.version} is in place"
        ) from None
    label = state_label(final.state)
    try:
        lines, judged = _verdicts(api, request.pipeline, run.id)
    except TimedOut as exc:  # the run is over: its state still decides the exit code
        lines, judged = [f"gate verdicts not read: {exc}"], {}
    for line in lines:
        request.echo(line)
    if final.state.type.value != "COMPLETED":
        message = f": {final.state.message}" if final.state.message else ""
        tasks = "".join(f"\n  task {line}" for line in failed_tasks)
        raise DeployError(
            f"the flow run {run.name} ({run.id}) ended {label}{message}{tasks}\n"
            f"  the deployment {item.full_name} version {item.version} is in place"
        )
    blocked = [name for name, v in judged.items() if v is not None and not v.passed]
    detail = label + (f", blocked by {', '.join(blocked)}" if blocked else "")
    return Action("create", f"flow run {run.name}", detail)


def state_label(state: Any) -> str:
    """`Completed`, or `Completed(GateBlocked)` when the state's name is not its type's."""
    kind = state.type.value.title()
    return kind if state.name in (None, kind) else f"{kind}({state.name})"


@dataclass
class _Progress:
    """What --wait has shown so far, and the tasks that did not complete."""

    shown: str = ""
    ended: set[Any] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    hinted: bool = False


def _follow(api: Api, run_id: Any, echo: Callable[[str], None], pool: str) -> tuple[Any, list]:
    """Poll the run to a final state, echoing its tasks' ends and its state changes."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    started, progress = time.monotonic(), _Progress()
    runs = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
    while True:
        run = api.call("reading the flow run", lambda c: c.read_flow_run(run_id))
        # tasks after the run: a task that ended before the run's final state is shown first
        tasks = api.call("reading task runs", lambda c: c.read_task_runs(flow_run_filter=runs))
        _echo_tasks(tasks, progress, echo)
        final = run.state is not None and run.state.is_final()
        label = state_label(run.state) if run.state else "Pending"
        if label != progress.shown:
            completed = final and run.state.type.value == "COMPLETED" and run.state.message
            echo(f"flow run {run.name}: {label}" + (f": {run.state.message}" if completed else ""))
            progress.shown = label
        if final:
            return run, progress.failed
        waiting = run.state is None or run.state.type.value in ("SCHEDULED", "PENDING")
        if waiting and not progress.hinted and time.monotonic() - started > LATE_HINT_SECONDS:
            echo(f"  still waiting for a worker: is one polling work pool {pool}?")
            progress.hinted = True
        api.deadline.pause(POLL_SECONDS, f"following flow run {run.name}")


def _echo_tasks(tasks: list[Any], progress: _Progress, echo: Callable[[str], None]) -> None:
    for task in sorted(tasks, key=lambda t: str(t.end_time or "")):
        if not (task.state and task.state.is_final()) or task.id in progress.ended:
            continue
        progress.ended.add(task.id)
        label = state_label(task.state)
        echo(f"  task {task.name}: {label}")
        if task.state.type.value != "COMPLETED":
            message = f": {task.state.message}" if task.state.message else ""
            progress.failed.append(f"{task.name} ended {label}{message}")


def _verdicts(
    api: Api, pipeline: Any, run_id: Any
) -> tuple[list[str], dict[str, GateVerdict | None]]:
    """Read the run's logs until every gate and promotion task that ended has logged its
    outcome (logs arrive in batches, the last ones shortly after the run ends), within
    LOG_GRACE_SECONDS."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    gates = [gate.name for gate in pipeline.gates]
    logs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    runs = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
    tasks = api.call("reading task runs", lambda c: c.read_task_runs(flow_run_filter=runs))
    # Only the gate and promotion tasks' own logs count: a step's output is no verdict. Theirs
    # and mlspec's tracking tasks' say what tracking did not record.
    reporting = [t for t in tasks if {"gate", "promotion"} & set(t.tags)]
    expected = {t.id for t in reporting if t.state and t.state.type.value == "COMPLETED"}
    reporting += [t for t in tasks if _tracking_task(t)]
    grace = min(LOG_GRACE_SECONDS, api.deadline.left())  # the run is over: --timeout cuts it
    deadline = time.monotonic() + grace
    while True:
        found = api.call("reading the flow run's logs", lambda c: _all_logs(c, logs))
        messages = [log for log in found if log.task_run_id in {t.id for t in reporting}]
        reported = {log.task_run_id for log in messages if verdicts.is_outcome(log.message)}
        if expected <= reported or time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    outcomes = verdicts.parse(log.message for log in messages)
    return verdicts.render(gates, outcomes), {g: outcomes.gates.get(g) for g in gates}


def _tracking_task(task: Any) -> bool:
    """One of mlspec's tracking tasks, by its name ("mlspec_track-0") or its function's key."""
    names = (TRACK_TASK, LINEAGE_TASK, CLOSE_TASK)
    return any(str(getattr(task, f, "")).startswith(names) for f in ("name", "task_key"))


def _all_logs(client: Any, logs: Any) -> list[Any]:
    found: list[Any] = []
    while True:
        page = client.read_logs(log_filter=logs, limit=200, offset=len(found))
        found += page
        if len(page) < 200:
            return found
