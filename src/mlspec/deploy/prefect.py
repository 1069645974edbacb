"""`mlspec deploy --target prefect`: the compiled flow and its prefect.yaml, through Prefect's API.

The deploy runs in three phases, so that a failure never leaves a half-made deployment:

1. local: settings, prefect.yaml parsed, the flow's parameter schema, schedules built and
   validated by Prefect's own models (no remote call yet);
2. read: the server is reached (transient failures retried within a bounded time), and the work
   pool, the flow and the deployment are read, giving the plan (a dry run stops here);
3. write: the flow file first (into a folder named by the content version, so a deployment never
   points at a file that a later deploy overwrote), then the work pool, the flow and the
   deployment (one upsert, which replaces its schedules). A failure names what was done and
   what was not.

The workers load the flow from `prefect_flow_dir`: the deployment's pull step sets the working
directory to `<flow dir>/<pipeline>/<version>`, and its entrypoint is the file there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import yaml

from mlspec.backends.base import Artifact
from mlspec.backends.prefect.deployment import WORK_POOL
from mlspec.deploy.common import (
    NO_DEADLINE,
    Action,
    Deadline,
    DeployError,
    Plan,
    Request,
    SettingsError,
    TimedOut,
    Transient,
    answer_problem,
    is_refused,
    redact,
    retry,
    unexpected_answer,
)
from mlspec.run.summary import GateVerdict
from mlspec.runtime import embed

T = TypeVar("T")

# Total time spent retrying one call on transient failures (5xx, timeouts); a refused
# connection is retried for common.REFUSED_SECONDS only.
RETRY_SECONDS = 60.0
# One HTTP request's timeout: a server that accepts connections but never answers is transient.
REQUEST_SECONDS = 15.0
# How often --wait polls the flow run, and how long it waits for the run's last logs.
POLL_SECONDS = 1.0
LOG_GRACE_SECONDS = 15.0
# After this long without a worker picking the run up, --wait says what it is waiting for.
LATE_HINT_SECONDS = 30.0
PULL_STEP = "prefect.deployments.steps.set_working_directory"
# The prefect.yaml keys this deploy applies; any other with a value is refused, not ignored.
_APPLIED = {"name", "version", "tags", "description", "entrypoint", "parameters", "paused"}
_APPLIED |= {"enforce_parameter_schema", "schedules", "work_pool", "flow_name"}


@dataclass(frozen=True)
class Settings:
    api_url: str
    work_pool: str
    flow_dir: Path

    @property
    def shown_url(self) -> str:
        return shown_url(self.api_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What no message may contain: the URL's credentials and Prefect's API key."""
        parts = urlsplit(self.api_url)
        found = [parts.password or "", parts.netloc.rpartition("@")[0]]
        with contextlib.suppress(Exception):  # no prefect settings: nothing more to hide
            from prefect.settings import get_current_settings

            api = get_current_settings().api
            for secret in (api.key, api.auth_string):
                found.append(secret.get_secret_value() if secret is not None else "")
        return tuple(s for s in found if s)


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str
    active: bool

    def __str__(self) -> str:
        return f"{self.cron} {self.timezone}" + ("" if self.active else " (paused)")


@dataclass(frozen=True)
class Wanted:
    """One deployment as prefect.yaml and the settings ask for it."""

    flow_name: str
    name: str
    version: str
    flow_file: Artifact
    folder: Path  # <flow dir>/<pipeline>/<version>: where the workers load the flow from
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
    runtime: tuple[Artifact, ...] = ()  # the runtime package the flow loads, beside it

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"

    @property
    def flow_path(self) -> Path:
        return self.folder / self.flow_file.path

    @property
    def pull_steps(self) -> list[dict[str, Any]]:
        return [{PULL_STEP: {"directory": str(self.folder)}}]

    def fields(self) -> dict[str, Any]:
        """The deployment's fields as the server stores them, to compare and to send."""
        return {
            "version": self.version,
            "work_pool_name": self.work_pool,
            "work_queue_name": self.work_queue or "default",
            "path": str(self.folder),
            "entrypoint": self.entrypoint,
            "pull_steps": self.pull_steps,
            "parameters": self.parameters,
            "parameter_openapi_schema": self.parameter_schema,
            "enforce_parameter_schema": self.enforce_parameter_schema,
            "tags": self.tags,
            "description": self.description,
            "job_variables": self.job_variables,
            "paused": self.paused,
            "schedules": [_schedule_key(s.cron, s.timezone, s.active) for s in self.schedules],
        }


@dataclass
class Found:
    """What the server has now, read before anything is written."""

    server_version: str
    pool: Any | None  # prefect WorkPool
    flows: dict[str, Any] = field(default_factory=dict)  # flow name -> Flow
    deployments: dict[str, Any] = field(default_factory=dict)  # full name -> DeploymentResponse


@dataclass(frozen=True)
class Step:
    """One write of the apply phase; `run` may record ids that later steps use."""

    action: Action
    run: Callable[[Api, dict[str, Any]], None]
    done: str  # what it leaves behind, for a failure message: "work pool mlspec created"


def deploy(request: Request) -> Plan:
    """Plan the deploy, and unless it is a dry run apply it (and run the deployment if asked)."""
    settings = _settings(request)
    wanted = _wanted(request, settings)
    api = Api(settings, request.deadline)
    with api.connect():
        found = _read(api, settings, wanted)
        plan, steps = _plan(request, settings, wanted, found)
        if request.dry_run:
            request.echo("dry run: nothing was changed on the server or in the flow folder")
            return plan
        ids = _apply(api, steps, wanted, found)
        if request.run:
            plan.actions[-1] = _run(api, request, settings, wanted[0], ids)
    return plan


def offline_plan(request: Request) -> Plan:
    """What a deploy would apply, from the compiled files alone: the server is not asked and the
    flow folder not read, so each action is an "apply" (created, or updated where it differs)."""
    given = request.settings
    url = (given.get("prefect_api_url") or "").strip().rstrip("/")
    folder = given.get("prefect_flow_dir")
    flow_dir = Path(folder).expanduser().resolve() if folder else Path("<flow dir>")
    settings = Settings(url, given.get("prefect_work_pool") or WORK_POOL, flow_dir)
    wanted = _wanted(request, settings)
    actions = [Action("apply", f"flow file {item.flow_path}") for item in _unique_files(wanted)]
    actions.append(Action("apply", f"work pool {settings.work_pool}", "a process pool if missing"))
    actions += [Action("apply", f"flow {name}") for name in _unique(wanted)]
    actions += [Action("apply", f"deployment {i.full_name}", _summary(i)) for i in wanted]
    server = shown_url(url) if url else ""
    return Plan("prefect", request.version, actions, server=server, offline=True)


# -- settings and the local phase -------------------------------------------------------------


def shown_url(url: str) -> str:
    """The URL with any user:password replaced, fit to print."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _settings(request: Request) -> Settings:
    """The connection settings, checked; missing or malformed ones are SettingsErrors."""
    url = (request.settings.get("prefect_api_url") or "").strip()
    if not url:
        raise SettingsError(
            "deploying to Prefect needs the API URL: pass --prefect-api-url or set "
            "PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)"
        )
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise SettingsError(
            f"the Prefect API URL {shown_url(url)!r} is not an http(s) URL "
            "(e.g. http://127.0.0.1:4200/api)"
        )
    folder = request.settings.get("prefect_flow_dir")
    if not folder:
        raise SettingsError(
            "deploying to Prefect needs the folder the workers load flows from: pass "
            "--prefect-flow-dir or set MLSPEC_PREFECT_FLOW_DIR (a shared volume or checkout, "
            "at the same path on the workers)"
        )
    flow_dir = Path(folder).expanduser().resolve()
    if not flow_dir.is_dir():
        raise SettingsError(f"the Prefect flow folder {flow_dir} does not exist")
    if not request.dry_run and not os.access(flow_dir, os.W_OK | os.X_OK):
        raise SettingsError(f"the Prefect flow folder {flow_dir} is not writable")
    pool = request.settings.get("prefect_work_pool") or WORK_POOL
    return Settings(url.rstrip("/"), pool, flow_dir)


def _wanted(request: Request, settings: Settings) -> list[Wanted]:
    """Every deployment of the generated prefect.yaml, fully built: nothing is left to fail."""
    files = {artifact.path: artifact for artifact in request.artifacts}
    if "prefect.yaml" not in files:
        raise DeployError("the compiled pipeline has no prefect.yaml: nothing to deploy")
    # PyYAML (YAML 1.1), as `prefect deploy` reads the file: what Prefect would deploy.
    data = yaml.safe_load(files["prefect.yaml"].text)
    pipeline = request.pipeline
    found = [
        _one(entry, files, request.version, settings, pipeline)
        for entry in data.get("deployments") or []
    ]
    if not found:
        raise DeployError("prefect.yaml lists no deployments: nothing to deploy")
    return found


def _one(
    entry: dict[str, Any],
    files: dict[str, Artifact],
    version: str,
    settings: Settings,
    pipeline: Any,
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
        folder=settings.flow_dir / pipeline.name / version,
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
        runtime=tuple(a for a in files.values() if a.path.startswith(embed.PACKAGE_PREFIX)),
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


def _schedule(item: dict[str, Any]) -> Schedule:
    """A cron schedule, validated by Prefect's own model (cron syntax, IANA time zone)."""
    from prefect.client.schemas.schedules import CronSchedule

    if "cron" not in item:
        raise DeployError(f"prefect.yaml: mlspec deploy applies cron schedules only, not {item}")
    try:
        cron = CronSchedule(cron=item["cron"], timezone=item.get("timezone") or "UTC")
    except ValueError as exc:
        raise DeployError(f"prefect.yaml: schedule {item}: {exc}") from None
    return Schedule(cron.cron, cron.timezone or "UTC", bool(item.get("active", True)))


def _schedule_key(cron: str, timezone: str | None, active: bool) -> dict[str, Any]:
    return {"cron": cron, "timezone": timezone or "UTC", "active": active}


# -- the server: one client, every call classified and retried ------------------------------


class Api:
    """Prefect's sync client, with every call's failure made Transient or a DeployError."""

    def __init__(self, settings: Settings, deadline: Deadline = NO_DEADLINE) -> None:
        self.settings = settings
        self.deadline = deadline
        self.client: Any = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[None]:
        """A client for this URL only; Prefect's own retries are off, `retry` bounds the time."""
        from prefect.client.orchestration import get_client
        from prefect.settings import (
            PREFECT_API_REQUEST_TIMEOUT,
            PREFECT_API_URL,
            PREFECT_CLIENT_MAX_RETRIES,
            temporary_settings,
        )

        overrides = {
            PREFECT_API_URL: self.settings.api_url,
            PREFECT_CLIENT_MAX_RETRIES: 0,
            PREFECT_API_REQUEST_TIMEOUT: self.deadline.bound(REQUEST_SECONDS),
        }
        with temporary_settings(overrides), get_client(sync_client=True) as client:
            _no_connect_retries(client, self.settings.api_url)
            self.client = client
            try:
                yield
            finally:
                self.client = None

    def call(self, what: str, function: Callable[[Any], T]) -> T:
        """`function(client)`, retried on transient failures; a DeployError says `what` failed."""
        secrets = self.settings.secrets

        def attempt() -> T:
            try:
                return function(self.client)
            except (DeployError, Transient):
                raise
            except Exception as exc:
                classified = _classify(exc, what, self.settings)
                if classified is None:
                    raise  # not the server's doing: a bug, shown with its traceback
                raise classified from None

        try:
            return retry(attempt, what, total_seconds=RETRY_SECONDS, deadline=self.deadline)
        except DeployError as exc:
            raise DeployError(redact(str(exc), *secrets)) from None


def _no_connect_retries(client: Any, url: str) -> None:
    """Turn off the three connection retries Prefect gives httpcore's pool (1.5 s per refused
    call, unreported): `retry` reports each attempt. (Prefect's internals: if they move, its
    own retries stay, and a refused deploy only takes a little longer.)"""
    import httpx

    with contextlib.suppress(AttributeError, TypeError):
        client._client._transport_for_url(httpx.URL(url))._pool._retries = 0


def _classify(exc: Exception, what: str, settings: Settings) -> Exception | None:
    """Transient for what may pass (no connection, timeouts, 5xx, 408, 429), DeployError for
    the server's refusals and malformed answers, None for anything else."""
    import httpx
    import pydantic

    secrets = settings.secrets
    http = getattr(exc, "http_exc", None)  # prefect's ObjectNotFound and friends wrap it
    if isinstance(http, httpx.HTTPStatusError):
        exc = http
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        status = f"{response.status_code} {response.reason_phrase}".strip()
        answer = redact(_answer(response), *secrets)
        if response.status_code >= 500 or response.status_code in (408, 429):
            return Transient(f"{status}: {answer}")
        message = f"{what}: the server answered {status}: {answer}"
        if response.status_code in (401, 403):
            message += (
                " (check PREFECT_API_KEY, PREFECT_API_AUTH_STRING or the credentials in the "
                "API URL)"
            )
        elif response.status_code == 404 and what.startswith("reaching"):
            message += " (is this Prefect's API? Its URL usually ends in /api)"
        return DeployError(message)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DeployError(f"{what}: {redact(str(exc), *secrets)}")
    if isinstance(exc, httpx.TransportError):
        return Transient(redact(f"{type(exc).__name__}: {exc}", *secrets), refused=is_refused(exc))
    if isinstance(exc, pydantic.ValidationError | json.JSONDecodeError):  # e.g. a login page
        problem = redact(answer_problem(exc), *secrets)
        return unexpected_answer(what, f"the Prefect API at {settings.shown_url}", problem)
    if isinstance(exc, httpx.HTTPError):
        return DeployError(f"{what}: {type(exc).__name__}: {redact(str(exc), *secrets)}")
    return None


def _answer(response: Any) -> str:
    """The server's own words: FastAPI's `detail`, Prefect's validation errors, or the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or "(no message)"
    if not isinstance(body, dict):
        return json.dumps(body)[:500]
    detail = body.get("detail", body.get("exception_detail", body.get("exception_message")))
    if isinstance(detail, list):
        return "; ".join(_validation_error(item) for item in detail)
    return str(detail if detail is not None else body)[:500]


def _validation_error(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()))
    return f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item))


def _missing_is_none(function: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """A read that answers None for 404 (not found), rather than failing."""
    import httpx

    def read(client: Any) -> T | None:
        try:
            return function(client)
        except Exception as exc:
            http = getattr(exc, "http_exc", exc)
            if isinstance(http, httpx.HTTPStatusError) and http.response.status_code == 404:
                return None
            raise

    return read


# -- the read phase and the plan ------------------------------------------------------------


def _read(api: Api, settings: Settings, wanted: list[Wanted]) -> Found:
    """The server's current state; nothing is written, so a failure leaves nothing behind."""
    try:
        reached = f"reaching the Prefect API at {settings.shown_url}"
        version = api.call(reached, lambda c: c.request("GET", "/admin/version").json())
        if not isinstance(version, str):  # Prefect answers its version as a JSON string
            problem = f"a server version of {json.dumps(version)[:80]}"
            raise unexpected_answer(reached, f"the Prefect API at {settings.shown_url}", problem)
        pool = api.call(
            f"reading work pool {settings.work_pool}",
            _missing_is_none(lambda c: c.read_work_pool(settings.work_pool)),
        )
        found = Found(str(version), pool)
        for item in wanted:
            found.flows[item.flow_name] = api.call(
                f"reading flow {item.flow_name}",
                _missing_is_none(lambda c, n=item.flow_name: c.read_flow_by_name(n)),
            )
            found.deployments[item.full_name] = api.call(
                f"reading deployment {item.full_name}",
                _missing_is_none(lambda c, n=item.full_name: c.read_deployment_by_name(n)),
            )
    except DeployError as exc:
        raise DeployError(f"{exc}. Nothing was changed (the deploy had not written yet)") from None
    return found


def _plan(
    request: Request, settings: Settings, wanted: list[Wanted], found: Found
) -> tuple[Plan, list[Step]]:
    """What to do, as printed actions and as the writes that do it, in order."""
    server = f"{settings.shown_url} (server {found.server_version})"
    plan = Plan("prefect", request.version, server=server)
    steps = [_file_step(item) for item in _unique_files(wanted)]
    steps.append(_pool_step(settings, found.pool))
    steps += [_flow_step(name, found.flows.get(name)) for name in _unique(wanted)]
    steps += [_deployment_step(item, found.deployments.get(item.full_name)) for item in wanted]
    plan.actions += [step.action for step in steps]
    if request.run:
        detail = "and follow it to its end" if request.wait else "after deploying"
        plan.actions.append(Action("create", f"flow run of {wanted[0].full_name}", detail))
    return plan, [step for step in steps if step.action.verb != "unchanged"]


def _unique(wanted: list[Wanted]) -> list[str]:
    return list(dict.fromkeys(item.flow_name for item in wanted))


def _unique_files(wanted: list[Wanted]) -> list[Wanted]:
    return list({item.flow_path: item for item in wanted}.values())


def _file_step(item: Wanted) -> Step:
    path, text = item.flow_path, item.flow_file.text
    # The runtime package first: the flow file never names a package that is not there.
    files = [*((item.folder / a.path, a.text) for a in item.runtime), (path, text)]
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    stale = [f for f, t in files if not f.is_file() or f.read_text(encoding="utf-8") != t]
    verb = "unchanged" if not stale else "create" if current is None else "update"
    action = Action(verb, f"flow file {path}")

    def write(api: Any, ids: Any) -> None:
        for file, content in files:
            write_atomically(file, content)

    return Step(action, write, f"flow file {path} written")


def _pool_step(settings: Settings, pool: Any | None) -> Step:
    name = settings.work_pool
    if pool is None:
        return Step(
            Action("create", f"work pool {name}", "type process"),
            lambda api, ids: _create_pool(api, name),
            f"work pool {name} created",
        )
    kind = str(pool.type)
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
    return Step(Action("unchanged", f"work pool {name}", detail), _nothing, "")


def _nothing(api: Api, ids: dict[str, Any]) -> None:
    """The step of an unchanged action."""


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
            return client.create_work_pool(pool).type
        except ObjectAlreadyExists:
            return client.read_work_pool(name).type

    kind = api.call(f"creating work pool {name}", create)
    if kind != "process":
        raise DeployError(f"creating work pool {name}: one of type {kind} appeared meanwhile")


def _flow_step(name: str, flow: Any | None) -> Step:
    if flow is not None:
        return Step(Action("unchanged", f"flow {name}"), _nothing, "")

    def create(api: Api, ids: dict[str, Any]) -> None:
        ids[f"flow {name}"] = api.call(
            f"creating flow {name}", lambda c: c.create_flow_from_name(name)
        )

    return Step(Action("create", f"flow {name}"), create, f"flow {name} created")


def _deployment_step(item: Wanted, current: Any | None) -> Step:
    what = f"deployment {item.full_name}"
    if current is None:
        return Step(Action("create", what, _summary(item)), _upsert(item), f"{what} created")
    changed = _differences(current, item)
    if not changed:
        return Step(Action("unchanged", what, f"version {item.version}"), _nothing, "")
    detail = _update_detail(current, item, changed)
    return Step(Action("update", what, detail), _upsert(item), f"{what} updated")


def _summary(item: Wanted) -> str:
    schedules = ", ".join(str(s) for s in item.schedules) or "no schedule"
    return f"version {item.version}, work pool {item.work_pool}, {schedules}"


def _update_detail(current: Any, item: Wanted, changed: list[str]) -> str:
    """The changed fields; a new version moves the flow folder too, which goes unsaid."""
    detail = ""
    if "version" in changed and Path(current.path or "").parent == item.folder.parent:
        changed = [key for key in changed if key not in ("version", "path", "pull_steps")]
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
        "description": current.description,
        "job_variables": current.job_variables,
        "paused": current.paused,
        "schedules": [
            _schedule_key(
                getattr(s.schedule, "cron", str(s.schedule)),
                getattr(s.schedule, "timezone", None),
                s.active,
            )
            for s in current.schedules
        ],
    }
    return [key for key, value in item.fields().items() if _normal(now[key]) != _normal(value)]


def _normal(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _upsert(item: Wanted) -> Callable[[Api, dict[str, Any]], None]:
    """Create or update: Prefect's POST /deployments/ upserts by flow and name, and replaces
    the schedules (deleting the runs the old ones had scheduled)."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule

    schedules = [
        DeploymentScheduleCreate(
            schedule=CronSchedule(cron=s.cron, timezone=s.timezone), active=s.active
        )
        for s in item.schedules
    ]

    def run(api: Api, ids: dict[str, Any]) -> None:
        flow_id = ids.get(f"flow {item.flow_name}") or ids[f"found {item.flow_name}"]
        ids[item.full_name] = api.call(
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
                path=str(item.folder),
                entrypoint=item.entrypoint,
                parameter_openapi_schema=item.parameter_schema,
                paused=item.paused,
                pull_steps=item.pull_steps,
                enforce_parameter_schema=item.enforce_parameter_schema,
                job_variables=item.job_variables,
            ),
        )

    return run


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a worker never reads half a flow file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o644)  # mkstemp makes it private; workers may run as another user
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# -- the write phase ------------------------------------------------------------------------


def _apply(api: Api, steps: list[Step], wanted: list[Wanted], found: Found) -> dict[str, Any]:
    """Every write in order; a failure says what is done and what is not."""
    ids: dict[str, Any] = {}
    for name, flow in found.flows.items():
        if flow is not None:
            ids[f"found {name}"] = flow.id
    for item in wanted:
        current = found.deployments.get(item.full_name)
        if current is not None:
            ids[item.full_name] = current.id
    return _run_steps(api, steps, ids)


def _run_steps(api: Api, steps: list[Step], ids: dict[str, Any]) -> dict[str, Any]:
    done: list[str] = []
    for index, step in enumerate(steps):
        try:
            step.run(api, ids)
        except (DeployError, OSError) as exc:
            raise DeployError(_failure(step, exc, done, steps[index + 1 :])) from None
        done.append(step.done)
    return ids


def _failure(step: Step, exc: Exception, done: list[str], rest: list[Step]) -> str:
    left = "; ".join(done) if done else "nothing was changed"
    undone = [f"{s.action.verb} {s.action.what}" for s in [step, *rest]]
    return (
        f"{exc}\n  done before the failure: {left}\n"
        f"  not done: {'; '.join(undone)}\n"
        "  deploying again finishes the job (what is done shows as unchanged)"
    )


# -- --run and --wait -----------------------------------------------------------------------


def _run(api: Api, request: Request, settings: Settings, item: Wanted, ids: dict) -> Action:
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
        lines, verdicts = _verdicts(api, request.pipeline, run.id)
    except TimedOut as exc:  # the run is over: its state still decides the exit code
        lines, verdicts = [f"gate verdicts not read: {exc}"], {}
    for line in lines:
        request.echo(line)
    if final.state.type.value != "COMPLETED":
        message = f": {final.state.message}" if final.state.message else ""
        tasks = "".join(f"\n  task {line}" for line in failed_tasks)
        raise DeployError(
            f"the flow run {run.name} ({run.id}) ended {label}{message}{tasks}\n"
            f"  the deployment {item.full_name} version {item.version} is in place"
        )
    blocked = [name for name, v in verdicts.items() if v is not None and not v.passed]
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


_GATE = re.compile(r"^gate (\w+) \((?:data|model)\): (PASSED|BLOCKED)")
# `  [FAIL] <check> <subject> measured <value> <threshold>`; a subject may hold spaces
_FAILED_CHECK = re.compile(r"^\s*\[FAIL\]\s+(\S+)\s+(.*?)\s+measured\s")
_PROMOTED = re.compile(r"^promotion to '([^']+)': (.+ version \S+)$")  # not "nothing promoted"


def parse_logs(messages: list[str]) -> tuple[dict[str, GateVerdict], dict[str, str]]:
    """Gate verdicts and promotions from the run's logs, which the runtime's tasks print.

    The gate reports themselves live in the artifact store the workers write to, which the
    deploying machine need not see; their printed summaries reach the API with the logs.
    """
    verdicts: dict[str, GateVerdict] = {}
    promoted: dict[str, str] = {}
    for message in messages:
        first, *rest = message.splitlines() or [""]
        gate = _GATE.match(first)
        if gate:
            failed = tuple(
                f"{m.group(1)} {m.group(2)}".strip()
                for m in (_FAILED_CHECK.match(line) for line in rest)
                if m
            )
            verdicts[gate.group(1)] = GateVerdict(gate.group(2) == "PASSED", failed)
        promotion = _PROMOTED.match(first)
        if promotion:
            promoted[promotion.group(1)] = promotion.group(2)
    return verdicts, promoted


def render_verdicts(
    gates: list[str], verdicts: dict[str, GateVerdict], promoted: dict[str, str]
) -> list[str]:
    lines = ["gates"] if gates else []
    width = max((len(name) for name in gates), default=0)
    for name in gates:
        verdict = verdicts.get(name)
        if verdict is None:
            text = "did not run"
        elif verdict.passed:
            text = "PASSED"
        else:
            failed = ", ".join(verdict.failed_checks)
            text = "BLOCKED" + (f": {failed}" if failed else "")
        lines.append(f"  {name:<{width}}  {text}")
    shown = "; ".join(f"{alias}: {what}" for alias, what in promoted.items())
    lines.append(f"promoted  {shown or 'nothing'}")
    return lines


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
    expected = {
        t.id
        for t in tasks
        if {"gate", "promotion"} & set(t.tags) and t.state and t.state.type.value == "COMPLETED"
    }
    grace = min(LOG_GRACE_SECONDS, api.deadline.left())  # the run is over: --timeout cuts it
    deadline = time.monotonic() + grace
    while True:
        found = api.call("reading the flow run's logs", lambda c: _all_logs(c, logs))
        reported = {log.task_run_id for log in found if _is_outcome(log.message)}
        if expected <= reported or time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    verdicts, promoted = parse_logs([log.message for log in found])
    return render_verdicts(gates, verdicts, promoted), {g: verdicts.get(g) for g in gates}


def _is_outcome(message: str) -> bool:
    return bool(_GATE.match(message)) or message.startswith("promotion to ")


def _all_logs(client: Any, logs: Any) -> list[Any]:
    found: list[Any] = []
    while True:
        page = client.read_logs(log_filter=logs, limit=200, offset=len(found))
        found += page
        if len(page) < 200:
            return found
