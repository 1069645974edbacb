"""The local phase of a Prefect deploy: every deployment of the generated prefect.yaml, fully
built and validated by Prefect's own models before any remote call."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlspec.backends.base import Artifact
from mlspec.backends.rollout.backend import FOLDER as ROLLOUT_FOLDER
from mlspec.deploy.common import DeployError, FileGroup, Request, file_groups
from mlspec.deploy.prefect.settings import Settings

PULL_STEP = "prefect.deployments.steps.set_working_directory"
# The prefect.yaml keys this deploy applies; any other with a value is refused, not ignored.
_APPLIED = {"name", "version", "tags", "description", "entrypoint", "parameters", "paused"}
_APPLIED |= {"enforce_parameter_schema", "schedules", "work_pool", "flow_name", "triggers"}


@dataclass(frozen=True)
class Schedule:
    """A cron schedule, or (a data watcher's) an interval of `interval` seconds."""

    cron: str | None
    timezone: str
    active: bool
    interval: int | None = None

    def __str__(self) -> str:
        when = f"every {self.interval} s" if self.interval else f"{self.cron} {self.timezone}"
        return when + ("" if self.active else " (paused)")

    def key(self) -> dict[str, Any]:
        if self.interval:
            return {"interval": self.interval, "active": self.active}
        return schedule_key(self.cron or "", self.timezone, self.active)


@dataclass(frozen=True)
class Wanted:
    """One deployment as prefect.yaml and the settings ask for it."""

    flow_name: str
    name: str
    version: str
    flow_file: Artifact  # the entrypoint's file
    files: tuple[Artifact, ...]  # what the folder gets: the flow file and any file beside it
    # <flow dir>/<pipeline>/<version>, where the workers load the flow from; None when
    # prefect.yaml's pull steps (`pull`) clone it
    folder: Path | None
    pull: tuple[dict[str, Any], ...]
    entrypoint: str
    parameters: dict[str, Any]
    parameter_schema: dict[str, Any]
    tags: list[str]
    description: str | None
    enforce_parameter_schema: bool
    schedules: tuple[Schedule, ...]
    paused: bool
    work_pool: str
    work_queue: str | None
    job_variables: dict[str, Any]
    # prefect.yaml `triggers:` as Prefect's DeploymentEventTrigger models: the automations that
    # start this deployment, owned by it
    triggers: tuple[Any, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"

    @property
    def path(self) -> str | None:
        return str(self.folder) if self.folder is not None else None

    @property
    def pull_steps(self) -> list[dict[str, Any]]:
        if self.folder is None:
            return list(self.pull)
        return [{PULL_STEP: {"directory": str(self.folder)}}]

    def fields(self) -> dict[str, Any]:
        """The deployment's fields as the server stores them, to compare and to send."""
        return {
            "version": self.version,
            "work_pool_name": self.work_pool,
            "work_queue_name": self.work_queue or "default",
            "path": self.path,
            "entrypoint": self.entrypoint,
            "pull_steps": self.pull_steps,
            "parameters": self.parameters,
            "parameter_openapi_schema": self.parameter_schema,
            "enforce_parameter_schema": self.enforce_parameter_schema,
            "tags": self.tags,
            "description": self.description,
            "job_variables": self.job_variables,
            "paused": self.paused,
            "schedules": [s.key() for s in self.schedules],
        }


def wanted_from(request: Request, settings: Settings) -> list[Wanted]:
    """Every deployment of the generated prefect.yaml, fully built: nothing is left to fail."""
    files = {artifact.path: artifact for artifact in request.artifacts}
    code = worker_files(request.artifacts)
    if "prefect.yaml" not in files:
        raise DeployError("the compiled pipeline has no prefect.yaml: nothing to deploy")
    # PyYAML (YAML 1.1), as `prefect deploy` reads the file: what Prefect would deploy.
    data = yaml.safe_load(files["prefect.yaml"].text)
    pipeline = request.pipeline
    pull = tuple(data.get("pull") or ())
    if settings.flow_dir is None and not pull:
        raise DeployError("prefect.yaml has no pull steps: the workers would find no flow")
    found = [
        _one(entry, files, code, request.version, settings, pipeline, pull)
        for entry in data.get("deployments") or []
    ]
    if not found:
        raise DeployError("prefect.yaml lists no deployments: nothing to deploy")
    return found


def worker_files(artifacts: tuple[Artifact, ...]) -> tuple[Artifact, ...]:
    """What the workers load: every generated file but prefect.yaml and the rollout manifests."""
    return tuple(
        a for a in artifacts if a.path != "prefect.yaml" and not a.path.startswith(ROLLOUT_FOLDER)
    )


def _one(
    entry: dict[str, Any],
    files: dict[str, Artifact],
    code: tuple[Artifact, ...],
    version: str,
    settings: Settings,
    pipeline: Any,
    pull: tuple[dict[str, Any], ...],
) -> Wanted:
    unsupported = sorted(k for k, v in entry.items() if k not in _APPLIED and v is not None)
    if unsupported:
        raise DeployError(f"prefect.yaml: mlspec deploy does not apply {', '.join(unsupported)}")
    entrypoint = str(entry["entrypoint"])
    file_name, _, function = entrypoint.rpartition(":")
    if file_name not in files:
        raise DeployError(f"prefect.yaml: the entrypoint's file {file_name} was not generated")
    pool = entry.get("work_pool") or {}
    return Wanted(
        flow_name=str(entry.get("flow_name") or pipeline.name),
        name=str(entry["name"]),
        version=version,
        flow_file=files[file_name],
        files=code if settings.flow_dir is not None else (),  # else the workers clone them
        folder=settings.flow_dir / pipeline.name / version if settings.flow_dir else None,
        pull=pull,
        entrypoint=entrypoint,
        parameters=dict(entry.get("parameters") or {}),
        parameter_schema=_parameter_schema(files[file_name], function),
        tags=[str(tag) for tag in entry.get("tags") or []],
        description=entry.get("description") or pipeline.description or None,
        enforce_parameter_schema=bool(entry.get("enforce_parameter_schema", False)),
        schedules=tuple(_schedule(item) for item in entry.get("schedules") or []),
        paused=bool(entry.get("paused", False)),
        work_pool=settings.work_pool,
        work_queue=pool.get("work_queue_name"),
        job_variables=dict(pool.get("job_variables") or {}),
        triggers=tuple(_trigger(str(entry["name"]), t) for t in entry.get("triggers") or []),
    )


def _parameter_schema(flow_file: Artifact, function: str) -> dict[str, Any]:
    """The flow's parameter schema, as `prefect deploy` makes it: from the source, unexecuted.

    Prefect reads it from a file, so the text goes to a private temporary folder, not the
    flow folder (a dry run writes nothing there).
    """
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    with tempfile.TemporaryDirectory(prefix="mlspec-deploy-") as folder:
        path = Path(folder) / flow_file.path
        path.write_text(flow_file.text, encoding="utf-8")
        schema = parameter_schema_from_entrypoint(f"{path}:{function}")
    return schema.model_dump(exclude_unset=True)


def _trigger(deployment: str, item: dict[str, Any]) -> Any:
    """A deployment trigger, validated by the model `prefect deploy` reads it with."""
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(DeploymentTriggerTypes).validate_python(item)
    except ValidationError as exc:
        raise DeployError(f"prefect.yaml: deployment {deployment}: trigger {item}: {exc}") from None


def _schedule(item: dict[str, Any]) -> Schedule:
    """A cron or interval schedule, validated by Prefect's own models (cron syntax, IANA time
    zone, a positive interval)."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    if "interval" in item:
        try:
            every = IntervalSchedule(interval=item["interval"])
        except ValueError as exc:
            raise DeployError(f"prefect.yaml: schedule {item}: {exc}") from None
        seconds = int(every.interval.total_seconds())
        return Schedule(None, "UTC", bool(item.get("active", True)), seconds)
    if "cron" not in item:
        raise DeployError(
            f"prefect.yaml: mlspec deploy applies cron and interval schedules only, not {item}"
        )
    try:
        cron = CronSchedule(cron=item["cron"], timezone=item.get("timezone") or "UTC")
    except ValueError as exc:
        raise DeployError(f"prefect.yaml: schedule {item}: {exc}") from None
    return Schedule(cron.cron, cron.timezone or "UTC", bool(item.get("active", True)))


def schedule_key(cron: str, timezone: str | None, active: bool) -> dict[str, Any]:
    return {"cron": cron, "timezone": timezone or "UTC", "active": active}


def flow_names(wanted: list[Wanted]) -> list[str]:
    return list(dict.fromkeys(item.flow_name for item in wanted))


def folder_files(wanted: list[Wanted]) -> list[tuple[Path, FileGroup]]:
    """What the flow folder gets, in order, once: each file, and each folder (the runtime
    package) as one group, with the folder it goes into."""
    found = {
        (item.folder, g.path): g
        for item in wanted
        if item.folder is not None
        for g in file_groups(item.files)
    }
    return [(folder, group) for (folder, _), group in found.items()]
