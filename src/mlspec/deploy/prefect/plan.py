"""The read phase and the plan of a Prefect deploy, and the steps that apply it: the flow files
first (into a folder named by the content version, so a deployment never points at a file that
a later deploy overwrote), then the work pool, the flow and the deployment (one upsert, which
replaces its schedules)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from typing import Any

from mlspec.deploy.common import (
    Action,
    DeployError,
    FileGroup,
    Plan,
    Request,
    Step,
    Verb,
    unexpected_answer,
    write_atomically,
)
from mlspec.deploy.prefect.api import Api, missing_is_none
from mlspec.deploy.prefect.settings import Settings
from mlspec.deploy.prefect.wanted import Wanted, flow_names, folder_files, schedule_key


@dataclass
class Found:
    """What the server has now, read before anything is written."""

    server_version: str
    pool: Any | None  # prefect WorkPool
    flows: dict[str, Any] = field(default_factory=dict)  # flow name -> Flow
    deployments: dict[str, Any] = field(default_factory=dict)  # full name -> DeploymentResponse
    # full name -> the automations the deployment owns (its triggers)
    automations: dict[str, list[Any]] = field(default_factory=dict)
    # watcher deployments of data triggers the spec no longer has
    stale: list[tuple[str, Any]] = field(default_factory=list)  # (full name, Deployment)


@dataclass
class Writes:
    """What the steps act on: the API, and the ids of what exists or a step created."""

    api: Api
    ids: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def starting_from(cls, api: Api, wanted: list[Wanted], found: Found) -> Writes:
        writes = cls(api)
        for name, flow in found.flows.items():
            if flow is not None:
                writes.ids[f"found {name}"] = flow.id
        for item in wanted:
            current = found.deployments.get(item.full_name)
            if current is not None:
                writes.ids[item.full_name] = current.id
        return writes


def read(api: Api, settings: Settings, wanted: list[Wanted], watch_flow: str) -> Found:
    """The server's current state; nothing is written, so a failure leaves nothing behind.
    `watch_flow` is the flow of the pipeline's data watchers, whose other deployments go."""
    try:
        reached = f"reaching the Prefect API at {settings.shown_url}"
        version = api.call(reached, lambda c: c.request("GET", "/admin/version").json())
        if not isinstance(version, str):  # Prefect answers its version as a JSON string
            problem = f"a server version of {json.dumps(version)[:80]}"
            raise unexpected_answer(reached, f"the Prefect API at {settings.shown_url}", problem)
        pool = api.call(
            f"reading work pool {settings.work_pool}",
            missing_is_none(lambda c: c.read_work_pool(settings.work_pool)),
        )
        found = Found(str(version), pool)
        for item in wanted:
            found.flows[item.flow_name] = api.call(
                f"reading flow {item.flow_name}",
                missing_is_none(methodcaller("read_flow_by_name", item.flow_name)),
            )
            current = found.deployments[item.full_name] = api.call(
                f"reading deployment {item.full_name}",
                missing_is_none(methodcaller("read_deployment_by_name", item.full_name)),
            )
            if current is not None:
                found.automations[item.full_name] = _owned_automations(api, item, current.id)
        found.stale = _stale_watchers(api, wanted, watch_flow)
    except DeployError as exc:
        raise DeployError(f"{exc}. Nothing was changed (the deploy had not written yet)") from None
    return found


def make_plan(
    request: Request, settings: Settings, wanted: list[Wanted], found: Found
) -> tuple[Plan, list[Step[Writes]]]:
    """What to do, as printed actions and as the steps that do it, in order."""
    server = f"{settings.shown_url} (server {found.server_version})"
    plan = Plan("prefect", request.version, server=server)
    steps = [_files_step(folder, group) for folder, group in folder_files(wanted)]
    steps.append(pool_step(settings, found.pool))
    steps += [_flow_step(name, found.flows.get(name)) for name in flow_names(wanted)]
    for item in wanted:
        current = found.deployments.get(item.full_name)
        steps.append(deployment_step(item, current))
        owned = found.automations.get(item.full_name, [])
        if item.triggers or owned:
            steps.append(triggers_step(item, current, owned))
    steps += [_delete_step(name, stale) for name, stale in found.stale]
    plan.actions += [step.action for step in steps]
    if request.run:
        detail = "and follow it to its end" if request.wait else "after deploying"
        plan.actions.append(Action("create", f"flow run of {wanted[0].full_name}", detail))
    return plan, steps


def _files_step(folder: Path, group: FileGroup) -> Step[Writes]:
    """A file of the flow folder, or a folder in it (the runtime package) as one step."""
    paths = [folder / item.path for item in group.files]
    befores = [p.read_text(encoding="utf-8") if p.is_file() else None for p in paths]
    changed = [
        (path, item.text)
        for path, item, before in zip(paths, group.files, befores, strict=True)
        if before != item.text
    ]
    verb: Verb = (
        "unchanged"
        if not changed
        else "create"
        if all(before is None for before in befores)
        else "update"
    )

    def write(writes: Writes) -> None:
        for path, text in changed:
            write_atomically(path, text)

    return Step(Action(verb, f"flow {group.what(folder)}"), write if changed else None)


def pool_step(settings: Settings, pool: Any | None) -> Step[Writes]:
    name = settings.work_pool
    if pool is None:
        action = Action("create", f"work pool {name}", "type process")
        return Step(action, lambda writes: _create_pool(writes.api, name))
    kind = str(pool.type)
    if settings.flow_dir is None:  # the workers clone the flow: any pool that runs pull steps
        return Step(Action("unchanged", f"work pool {name}", f"type {kind}"))
    if kind.endswith(":push") or kind.endswith(":managed"):
        raise DeployError(
            f"work pool {name} is of type {kind}, whose jobs cannot load the flow from "
            f"{settings.flow_dir}: use a process (or hybrid worker) pool. Nothing was changed"
        )
    detail = f"type {kind}" + (
        "" if kind == "process" else f"; its jobs must see {settings.flow_dir}"
    )
    if pool.is_paused:
        detail += "; paused: its runs wait until it is resumed"
    return Step(Action("unchanged", f"work pool {name}", detail))


def _create_pool(api: Api, name: str) -> None:
    """A process pool with Prefect's default job template (what `prefect work-pool create`
    makes). A pool of that name made meanwhile (or by a retried request whose answer was
    lost) is fine if it is a process pool too."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    pool = WorkPoolCreate(name=name, type="process", base_job_template=template)

    def create(client: Any) -> str:
        try:
            return str(client.create_work_pool(pool).type)
        except ObjectAlreadyExists:
            return str(client.read_work_pool(name).type)

    kind = api.call(f"creating work pool {name}", create)
    if kind != "process":
        raise DeployError(f"creating work pool {name}: one of type {kind} appeared meanwhile")


def _flow_step(name: str, flow: Any | None) -> Step[Writes]:
    if flow is not None:
        return Step(Action("unchanged", f"flow {name}"))

    def create(writes: Writes) -> None:
        writes.ids[f"flow {name}"] = writes.api.call(
            f"creating flow {name}", lambda c: c.create_flow_from_name(name)
        )

    return Step(Action("create", f"flow {name}"), create)


def deployment_step(item: Wanted, current: Any | None) -> Step[Writes]:
    what = f"deployment {item.full_name}"
    if current is None:
        return Step(Action("create", what, summary(item)), _upsert(item))
    changed = _differences(current, item)
    if not changed:
        return Step(Action("unchanged", what, f"version {item.version}"))
    detail = _update_detail(current, item, changed)
    return Step(Action("update", what, detail), _upsert(item))


def summary(item: Wanted) -> str:
    schedules = ", ".join(str(s) for s in item.schedules) or "no schedule"
    return f"version {item.version}, work pool {item.work_pool}, {schedules}"


def _update_detail(current: Any, item: Wanted, changed: list[str]) -> str:
    """The changed fields; a new version moves the flow folder too, which goes unsaid (a
    cloned flow's pull steps name the commit: they are said)."""
    detail = ""
    if item.folder is None:
        moved: tuple[str, ...] = ("version", "path")
    elif Path(current.path or "").parent == item.folder.parent:
        moved = ("version", "path", "pull_steps")
    else:
        moved = ()
    if "version" in changed and moved:
        changed = [key for key in changed if key not in moved]
        detail = f"version {current.version} -> {item.version}" + ("; " if changed else "")
    return detail + ", ".join(key.replace("_", " ") for key in changed)


def _differences(current: Any, item: Wanted) -> list[str]:
    """The fields whose server value differs from the wanted one (drift from the UI included)."""
    now = {
        "version": current.version,
        "work_pool_name": current.work_pool_name,
        "work_queue_name": current.work_queue_name,
        "path": current.path,
        "entrypoint": current.entrypoint,
        "pull_steps": current.pull_steps,
        "parameters": current.parameters,
        "parameter_openapi_schema": current.parameter_openapi_schema,
        "enforce_parameter_schema": current.enforce_parameter_schema,
        "tags": current.tags,
        "description": current.description or None,  # the server keeps no description as ""
        "job_variables": current.job_variables,
        "paused": current.paused,
        "schedules": [_schedule_key(s) for s in current.schedules],
    }
    return [key for key, value in item.fields().items() if _normal(now[key]) != _normal(value)]


def _stale_watchers(api: Api, wanted: list[Wanted], watch_flow: str) -> list[tuple[str, Any]]:
    """The watcher deployments of data triggers removed from the spec: left in place, they
    would go on looking at the path every few minutes."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterId

    flow = api.call(
        f"reading flow {watch_flow}", missing_is_none(methodcaller("read_flow_by_name", watch_flow))
    )
    if flow is None:  # the pipeline never had a data trigger
        return []
    names = {item.full_name for item in wanted}
    deployments = api.call(
        f"reading the deployments of flow {watch_flow}",
        lambda c: c.read_deployments(flow_filter=FlowFilter(id=FlowFilterId(any_=[flow.id]))),
    )
    return [
        (f"{watch_flow}/{d.name}", d) for d in deployments if f"{watch_flow}/{d.name}" not in names
    ]


def _delete_step(name: str, deployment: Any) -> Step[Writes]:
    def delete(writes: Writes) -> None:
        writes.api.call(
            f"deleting deployment {name}",
            missing_is_none(methodcaller("delete_deployment", deployment.id)),
        )

    return Step(Action("delete", f"deployment {name}", "its data trigger left the spec"), delete)


def _owned_automations(api: Api, item: Wanted, deployment_id: Any) -> list[Any]:
    """The automations an earlier deploy made for the deployment's triggers. The server does
    not say which automations a deployment owns, only which relate to it (those that run it,
    also ones made in the UI): mlspec's are told by their name, `mlspec <deployment>: ...`."""
    related = api.call(
        f"reading the automations of deployment {item.full_name}",
        methodcaller("read_resource_related_automations", f"prefect.deployment.{deployment_id}"),
    )
    return [a for a in related if str(a.name).startswith(f"mlspec {item.name}: ")]


def triggers_step(item: Wanted, current: Any | None, owned: list[Any]) -> Step[Writes]:
    """The deployment's triggers, as the automations that run it (what `prefect deploy` makes
    of prefect.yaml's `triggers:`): replaced together when any differs."""
    what = f"triggers of deployment {item.full_name}"
    detail = ", ".join(str(t.name) for t in item.triggers) or "none"
    if current is not None:
        wanted = sorted(_automation_key(a) for a in automations(item, current.id))
        if wanted == sorted(_automation_key(a) for a in owned):
            return Step(Action("unchanged", what, detail))
    verb: Verb = "create" if current is None or not owned else "update"

    def replace(writes: Writes) -> None:
        deployment_id = writes.ids[item.full_name]
        owner = f"prefect.deployment.{deployment_id}"
        writes.api.call(
            f"removing the old triggers of deployment {item.full_name}",
            methodcaller("delete_resource_owned_automations", owner),
        )
        for automation in automations(item, deployment_id):
            writes.api.call(
                f"creating trigger {automation.name!r} of deployment {item.full_name}",
                methodcaller("create_automation", automation),
            )

    return Step(Action(verb, what, detail), replace)


def automations(item: Wanted, deployment_id: Any) -> list[Any]:
    """Each trigger as the automation `prefect deploy` creates: it runs this deployment."""
    found = []
    for trigger in item.triggers:
        trigger = trigger.model_copy()
        trigger.set_deployment_id(deployment_id)
        found.append(trigger.as_automation())
    return found


def _automation_key(automation: Any) -> str:
    """An automation as data, without the ids the server gives it and its owner (which the
    server keeps apart, and does not answer)."""
    from prefect.events.schemas.automations import AutomationCore

    data = automation.model_dump(mode="json")
    data["trigger"].pop("id", None)
    fields = set(AutomationCore.model_fields) - {"owner_resource"}
    return _normal({k: v for k, v in data.items() if k in fields})


def _schedule_key(found: Any) -> dict[str, Any]:
    """A server schedule as Schedule.key says it: an interval in seconds, or cron and zone."""
    schedule = found.schedule
    interval = getattr(schedule, "interval", None)
    if interval is not None:
        return {"interval": int(interval.total_seconds()), "active": found.active}
    cron = getattr(schedule, "cron", str(schedule))
    return schedule_key(cron, getattr(schedule, "timezone", None), found.active)


def _normal(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _upsert(item: Wanted) -> Callable[[Writes], None]:
    """Create or update: Prefect's POST /deployments/ upserts by flow and name, and replaces
    the schedules (deleting the runs the old ones had scheduled)."""
    from datetime import timedelta

    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    schedules = [
        DeploymentScheduleCreate(
            schedule=IntervalSchedule(interval=timedelta(seconds=s.interval))
            if s.interval
            else CronSchedule(cron=s.cron or "", timezone=s.timezone),
            active=s.active,
        )
        for s in item.schedules
    ]

    def run(writes: Writes) -> None:
        ids = writes.ids
        flow_id = ids.get(f"flow {item.flow_name}") or ids[f"found {item.flow_name}"]
        ids[item.full_name] = writes.api.call(
            f"writing deployment {item.full_name}",
            lambda c: c.create_deployment(
                flow_id=flow_id,
                name=item.name,
                version=item.version,
                schedules=schedules,
                parameters=item.parameters,
                description=item.description,
                work_queue_name=item.work_queue,
                work_pool_name=item.work_pool,
                tags=item.tags,
                path=item.path,
                entrypoint=item.entrypoint,
                parameter_openapi_schema=item.parameter_schema,
                paused=item.paused,
                pull_steps=item.pull_steps,
                enforce_parameter_schema=item.enforce_parameter_schema,
                job_variables=item.job_variables,
            ),
        )

    return run
