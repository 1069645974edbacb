"""`mlspec deploy --target kubeflow`: the compiled pipeline to Kubeflow Pipelines, via kfp.Client.

What the server gets, all named after the spec's pipeline:

- a pipeline (created empty if missing, so every version it holds is named by a content hash);
- a pipeline version named by the content version: the compiled `<name>.kfp.yaml` is uploaded
  only if no version of that name exists, so an unchanged spec uploads nothing;
- an experiment, which the recurring run and the runs live in (and a namespace, if given);
- a recurring run with the spec's schedule, pointing at that version.

The deploy runs in three phases, so that a failure never leaves a half-made deployment:

1. local: settings, the package and the schedule are checked (no remote call yet);
2. read: the server is reached (transient failures retried within a bounded time) and the
   pipeline, version, experiment and recurring runs are read, giving the plan (a dry run stops
   here);
3. write, in a safe order: pipeline, version, experiment, then the new recurring run, and only
   once it exists the old one is deleted. A failure names what was done and what was not.

KFP recurring runs cannot be updated in place (the v2beta1 API has create, get, list, delete,
enable and disable only), so a recurring run that points at an older version or has another cron
is replaced: the new one is created first and the old one deleted after, so that a failure at
any point leaves at least one schedule in place. Pausing or resuming (`schedule.paused`) is done
in place with disable/enable.

KFP triggers have no time zone: the scheduled-workflow controller evaluates every cron in its
own zone (its CRON_SCHEDULE_TIMEZONE setting, else the container's, normally UTC). The spec's
5-field cron is sent as KFP's 6-field one (seconds first) unchanged, and a spec time zone other
than UTC is reported, not converted: a fixed shift would be wrong for half of the year wherever
there is daylight saving time.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import tempfile
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from mlspec.compiler import ir
from mlspec.deploy.common import (
    NO_DEADLINE,
    Action,
    Deadline,
    DeployError,
    Plan,
    Request,
    Setting,
    SettingsError,
    Step,
    Transient,
    UnexpectedAnswer,
    Verb,
    answer_problem,
    apply,
    is_refused,
    redact,
    retry,
    shown_url,
    unexpected_answer,
    url_secrets,
)
from mlspec.deploy.wheels import require_published

# `mlspec deploy` flags: connection settings, each also read from its environment variable.
SETTINGS = (
    Setting("kfp_host", "KF_PIPELINES_ENDPOINT", "Kubeflow Pipelines API host.", server=True),
    Setting("kfp_token", "KF_PIPELINES_TOKEN", "Kubeflow Pipelines bearer token."),
    Setting("kfp_namespace", "KF_PIPELINES_NAMESPACE", "Kubeflow namespace for recurring runs."),
)

T = TypeVar("T")

# Total time spent retrying one call on transient failures (5xx, timeouts); a refused
# connection is retried for common.REFUSED_SECONDS only.
RETRY_SECONDS = 60.0
FIRST_WAIT = 0.5
# One HTTP request: (connect, read) seconds. A server that accepts and never answers is transient.
REQUEST_SECONDS = (10.0, 120.0)
# How often --wait polls the run.
POLL_SECONDS = 5.0
FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "ERROR"})
MAX_CONCURRENCY = 1  # a scheduled retraining never overlaps itself
AFTER_A_FAILURE = (
    "anything not listed as done is as it was (an old recurring run is deleted only after its "
    "replacement exists); deploying again reuses what exists and does the rest"
)
_NAME_FILTER_PAGE = 100

# Cron macros as 6-field expressions (seconds first), the form KFP's robfig/cron parser takes.
_MACROS = {
    "@hourly": "0 0 * * * *",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@weekly": "0 0 0 * * 0",
    "@monthly": "0 0 0 1 * *",
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


def kfp_cron(cron: str) -> str:
    """The spec's 5-field cron (or macro) as the 6-field cron KFP parses (robfig/cron: seconds
    first, day of week 0-6), so that it fires at the same minutes."""
    if cron in _MACROS:
        return _MACROS[cron]
    minute, hour, day, month, weekday = cron.split()
    return " ".join(["0", minute, hour, day, month, _weekdays(weekday)])


def _weekdays(field_text: str) -> str:
    """A day-of-week field without 7: cron's second Sunday is out of range for robfig/cron."""
    return ",".join(_weekday_item(item) for item in field_text.split(","))


def _weekday_item(item: str) -> str:
    base, slash, step = item.partition("/")
    bounds = base.split("-")
    if "7" not in bounds:
        return item
    numbers = [int(b) if b.isdigit() else _DAYS[b.lower()] for b in bounds]
    low, high = numbers[0], (7 if slash and len(numbers) == 1 else numbers[-1])
    days = sorted({day % 7 for day in range(low, high + 1, int(step or 1))})
    return ",".join(str(day) for day in days)


@dataclass(frozen=True)
class Wanted:
    """What the spec asks for on the server (checked before any remote call)."""

    name: str  # the pipeline's, the experiment's and the recurring run's
    description: str
    spec_version: str
    version: str  # content version: the pipeline version's name
    package: str  # the compiled <name>.kfp.yaml
    cron: str | None  # KFP's 6-field form; None: no schedule
    unscheduled: str  # why a spec without cron has no recurring run
    spec_cron: str | None
    timezone: str | None
    enabled: bool


@dataclass(frozen=True)
class Settings:
    host: str
    token: str | None
    namespace: str | None

    @property
    def shown_host(self) -> str:
        return shown_url(self.host)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What no message may contain: the token and the host URL's credentials."""
        return (*url_secrets(self.host), *((self.token,) if self.token else ()))


def settings_from(settings: dict[str, str | None]) -> Settings:
    host = (settings.get("kfp_host") or "").strip().rstrip("/")
    if not host:
        raise SettingsError(
            "no Kubeflow Pipelines host: pass --kfp-host or set KF_PIPELINES_ENDPOINT "
            "(e.g. http://127.0.0.1:8888 through `kubectl port-forward svc/ml-pipeline`)"
        )
    if not host.startswith(("http://", "https://")):
        raise SettingsError(f"the Kubeflow Pipelines host needs http:// or https://, not {host!r}")
    return Settings(host, settings.get("kfp_token") or None, settings.get("kfp_namespace") or None)


def wanted_from(request: Request) -> Wanted:
    pipeline = cast(ir.Pipeline, request.pipeline)
    package = next(
        (a.text for a in request.artifacts if a.path == f"{pipeline.name}.kfp.yaml"), None
    )
    if package is None:
        raise DeployError(f"the kubeflow build has no {pipeline.name}.kfp.yaml to upload")
    schedule = pipeline.schedule
    return Wanted(
        name=pipeline.name,
        description=pipeline.description,
        spec_version=pipeline.version,
        version=request.version,
        package=package,
        cron=kfp_cron(schedule.cron) if schedule else None,
        spec_cron=schedule.cron if schedule else None,
        timezone=schedule.timezone if schedule else None,
        enabled=not schedule.paused if schedule else False,
        unscheduled=(
            "runs start only by hand (manual: true)"
            if any(t.kind == "manual" for t in pipeline.triggers)
            else "the spec has no schedule"
        ),
    )


# --- the server: kfp.Client calls with one error and retry policy --------------------------


@functools.cache
def _client_type() -> type:
    """kfp.Client with a health check of one request: the SDK's own retries every error
    (401 included) five times, 5 s apart, and logs each; `Api.call` decides instead."""
    from kfp import Client

    class _Client(Client):  # type: ignore[misc]
        _mlspec_healthz: Any = None

        def get_kfp_healthz(self, sleep_duration: int = 5) -> Any:
            if self._mlspec_healthz is None:
                api = self._healthz_api
                self._mlspec_healthz = api.healthz_service_get_healthz(
                    _request_timeout=REQUEST_SECONDS
                )
            return self._mlspec_healthz

    return _Client


def _open_client(settings: Settings, deadline: Deadline) -> Any:
    """A connected kfp.Client: constructed (which may already ask /healthz), request timeouts
    bounded, health checked."""
    import urllib3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2+"
        client = _client_type()(
            host=settings.host,
            existing_token=settings.token,
            namespace=settings.namespace or "kubeflow",  # kfp's "none given" value
        )
    # The generated client has no default timeout; every service shares this one pool manager.
    # (Internals of kfp_server_api: if they move, requests just keep urllib3's defaults.)
    with contextlib.suppress(AttributeError):
        api_client = client._run_api.api_client
        pool = api_client.rest_client.pool_manager
        connect, read = (deadline.bound(seconds) for seconds in REQUEST_SECONDS)
        pool.connection_pool_kw["timeout"] = urllib3.Timeout(connect=connect, read=read)
        pool.clear()
        api_client.deserialize = _checked_deserialize(api_client.deserialize)
    client.get_kfp_healthz()
    return client


def _checked_deserialize(deserialize: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """The generated client's `deserialize`, refusing what KFP never answers. It reads a body
    that is not JSON as a string and a JSON list as an empty object, so a proxy's or a login
    page would read as a server without pipelines (a plan to create everything), and a value
    of the wrong type ends in a TypeError. Each of these is an UnexpectedAnswer instead."""

    def checked(response: Any, response_type: str) -> Any:
        if response_type == "file":
            return deserialize(response, response_type)
        try:
            data = json.loads(response.data)
        except ValueError as exc:
            raise UnexpectedAnswer(answer_problem(exc)) from None
        if response_type != "object" and not isinstance(data, dict):  # every v2beta1 model
            raise UnexpectedAnswer(f"a JSON {type(data).__name__} for a {response_type}")
        try:
            return deserialize(response, response_type)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise UnexpectedAnswer(f"a {response_type} it cannot read: {exc}") from None

    return checked


def _server_message(exc: Any) -> str:
    """The server's own words from an ApiException: grpc-gateway's `message`, the upload
    endpoints' `error_message`, else the start of the body, else the HTTP reason."""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    with contextlib.suppress(ValueError, AttributeError):
        data = json.loads(body or "")
        for key in ("message", "error_message", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    text = " ".join((body or "").split())[:300]
    return text or str(exc.reason or "no message")


def _network_message(exc: BaseException) -> str:
    """'[Errno 111] Connection refused' rather than urllib3's whole retry history."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    text = str(exc)
    return text[text.index("[Errno") :] if "[Errno" in text else text or type(exc).__name__


class Api:
    """kfp.Client behind one policy: transient failures (unreachable, timeouts, 429, 5xx) are
    retried within RETRY_SECONDS; anything else stops the deploy with the server's answer.
    Messages never contain the token, and the SDK's printed links are kept off stdout."""

    def __init__(self, settings: Settings, deadline: Deadline = NO_DEADLINE) -> None:
        self.settings = settings
        self.deadline = deadline
        self.namespace = settings.namespace
        self.client: Any = self.call(
            f"connecting to {settings.shown_host}", lambda: _open_client(settings, deadline)
        )

    def call(self, what: str, fn: Callable[[], T]) -> T:
        return retry(
            lambda: self._once(what, fn),
            what,
            total_seconds=RETRY_SECONDS,
            first_wait=FIRST_WAIT,
            deadline=self.deadline,
        )

    def ensure(self, what: str, find: Callable[[], T | None], create: Callable[[], T]) -> T:
        """`create()`, retried; before a retry, `find()` first: a create whose answer was lost
        (a 503 from a proxy after the server acted) must not create a second one."""
        attempts = 0

        def once() -> T:
            nonlocal attempts
            attempts += 1
            found = find() if attempts > 1 else None
            return found if found is not None else create()

        return self.call(what, once)

    def _once(self, what: str, fn: Callable[[], T]) -> T:
        import urllib3
        from kfp_server_api import ApiException

        secrets = self.settings.secrets
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # "Pipeline details: <link>"
                return fn()
        except ApiException as exc:
            status = exc.status or 0
            message = redact(_server_message(exc), *secrets)
            if status == 429 or status >= 500:
                raise Transient(f"HTTP {status}: {message}") from None
            if status in (401, 403):
                raise DeployError(
                    f"{what}: the server refused the credentials (HTTP {status}: {message}); "
                    "check --kfp-token / KF_PIPELINES_TOKEN and the namespace's permissions"
                ) from None
            shown = f"HTTP {status}: {message}" if status else message
            raise DeployError(f"{what}: {shown}") from None
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            message = redact(_network_message(exc), *secrets)
            raise Transient(message, refused=is_refused(exc)) from None
        except UnexpectedAnswer as exc:
            raise unexpected_answer(what, self.name, redact(str(exc), *secrets)) from None

    @property
    def name(self) -> str:
        return f"Kubeflow Pipelines at {self.settings.shown_host}"

    def id_of(self, found: Any, key: str, what: str) -> str:
        """`found.<key>`, an id the server must give; its absence is an unexpected answer
        (a server answering `{}` to everything reads as one without pipelines until then)."""
        value = getattr(found, key, None)
        if not isinstance(value, str) or not value:
            raise unexpected_answer(what, self.name, f"no {key}")
        return value

    # Reads ------------------------------------------------------------------------------

    def find_pipeline(self, name: str) -> Any | None:
        found = self.call(
            f"looking up pipeline {name}",
            lambda: (
                self.client.list_pipelines(
                    filter=_named(name), namespace=self.namespace, page_size=_NAME_FILTER_PAGE
                ).pipelines
            ),
        )
        return _only(found, name, "pipelines")

    def find_version(self, pipeline_id: str, version: str) -> Any | None:
        found = self.call(
            f"looking up pipeline version {version}",
            lambda: (
                self.client.list_pipeline_versions(
                    pipeline_id, filter=_named(version), page_size=_NAME_FILTER_PAGE
                ).pipeline_versions
            ),
        )
        return _only(found, version, "pipeline versions")

    def version_name(self, pipeline_id: str, version_id: str) -> str:
        """A version's name, for the plan; its id if it is gone or unreadable."""
        try:
            version = self.call(
                f"reading pipeline version {version_id}",
                lambda: self.client.get_pipeline_version(pipeline_id, version_id),
            )
        except DeployError:
            return version_id
        return str(version.display_name or version.name or version_id)

    def find_experiment(self, name: str) -> Any | None:
        found = self.call(
            f"looking up experiment {name}",
            lambda: (
                self.client.list_experiments(
                    filter=_named(name), namespace=self.namespace, page_size=_NAME_FILTER_PAGE
                ).experiments
            ),
        )
        return _only(found, name, "experiments")

    def find_schedules(self, experiment_id: str, name: str) -> list[Any]:
        found = self.call(
            f"listing the recurring runs of experiment {name}",
            lambda: (
                self.client.list_recurring_runs(
                    experiment_id=experiment_id, filter=_named(name), page_size=_NAME_FILTER_PAGE
                ).recurring_runs
            ),
        )
        return [r for r in found or [] if r.display_name == name]

    def find_run(self, experiment_id: str, name: str) -> Any | None:
        found = self.call(
            f"looking up run {name}",
            lambda: self.client.list_runs(experiment_id=experiment_id, filter=_named(name)).runs,
        )
        return next((r for r in found or [] if r.display_name == name), None)


def _named(name: str) -> str:
    """A v2beta1 filter (filter.proto, as kfp.Client writes it): display_name EQUALS name."""
    predicate = {"operation": 1, "key": "display_name", "stringValue": name}  # 1: EQUALS
    return json.dumps({"predicates": [predicate]})


def _only(found: list[Any] | None, name: str, kind: str) -> Any | None:
    """The one item named `name` (filters are checked again here: a server may ignore one)."""
    matches = [f for f in found or [] if name in (f.display_name, getattr(f, "name", None))]
    if len(matches) > 1:
        raise DeployError(f"{len(matches)} {kind} are named {name!r}; mlspec needs exactly one")
    return matches[0] if matches else None


# --- reading the server and planning -------------------------------------------------------


@dataclass
class _Ids:
    """The server's ids: read before planning, filled in as the deploy creates things."""

    pipeline: str | None = None
    version: str | None = None
    experiment: str | None = None


@dataclass
class _Deploy:
    server: Api
    target: Wanted
    echo: Callable[[str], None]
    ids: _Ids = field(default_factory=_Ids)
    steps: list[Step[_Deploy]] = field(default_factory=list)

    # Planning ---------------------------------------------------------------------------

    def plan(self, run: bool) -> None:
        """Read what exists and decide each step (no write)."""
        self._check_namespace()
        self._plan_pipeline()
        self._plan_version()
        schedules = self._plan_experiment()
        self._plan_schedule(schedules)
        if run:
            self.steps.append(Step(Action("create", f"run of {self.version_label}")))

    @property
    def version_label(self) -> str:
        return f"pipeline version {self.target.name}/{self.target.version}"

    def _check_namespace(self) -> None:
        healthz = self.server.client.get_kfp_healthz()
        if healthz.multi_user and not (self.server.namespace or self._client_namespace()):
            raise DeployError(
                "this Kubeflow Pipelines is multi-user: pass --kfp-namespace or set "
                "KF_PIPELINES_NAMESPACE to the profile namespace to deploy into"
            )

    def _client_namespace(self) -> str | None:
        namespace = self.server.client.get_user_namespace()
        self.server.namespace = namespace or None
        return self.server.namespace

    def _where(self) -> str:
        return f"namespace {self.server.namespace}" if self.server.namespace else ""

    def _plan_pipeline(self) -> None:
        name = self.target.name
        pipeline = self.server.find_pipeline(name)
        what = f"pipeline {name}"
        if pipeline is not None:
            self.ids.pipeline = self.server.id_of(pipeline, "pipeline_id", f"looking up {what}")
            self.steps.append(Step(Action("unchanged", what, self._where())))
        else:
            self.steps.append(Step(Action("create", what, self._where()), _Deploy._create_pipeline))

    def _plan_version(self) -> None:
        version = None
        if self.ids.pipeline is not None:
            version = self.server.find_version(self.ids.pipeline, self.target.version)
        if version is not None:
            self.ids.version = self.server.id_of(
                version, "pipeline_version_id", f"looking up {self.version_label}"
            )
            self.steps.append(Step(Action("unchanged", self.version_label)))
            return
        detail = f"upload {self.target.name}.kfp.yaml"
        self.steps.append(Step(Action("create", self.version_label, detail), _Deploy._upload))

    def _plan_experiment(self) -> list[Any]:
        """Plans the experiment; returns the recurring runs it holds under the spec's name."""
        name = self.target.name
        experiment = self.server.find_experiment(name)
        what = f"experiment {name}"
        if experiment is None:
            self.steps.append(
                Step(Action("create", what, self._where()), _Deploy._create_experiment)
            )
            return []
        if str(experiment.storage_state or "").upper() == "ARCHIVED":
            raise DeployError(
                f"experiment {name} ({experiment.experiment_id}) is archived: runs cannot start "
                "in it; restore it in the Kubeflow Pipelines UI, or delete it, and deploy again"
            )
        self.ids.experiment = self.server.id_of(experiment, "experiment_id", f"looking up {what}")
        self.steps.append(Step(Action("unchanged", what, self._where())))
        return self.server.find_schedules(experiment.experiment_id, name)

    def _plan_schedule(self, existing: list[Any]) -> None:
        """Keep a recurring run that already points at this version with this cron (enabling
        or disabling it in place); else create one; then delete every other one of ours."""
        target = self.target
        keep = None
        if target.cron is not None:
            keep = next((r for r in existing if self._current(r)), None)
            if keep is None:
                self.steps.append(
                    Step(_schedule_action("create", target), _Deploy._create_schedule)
                )
            else:
                self.steps.append(self._toggle_step(keep))
        for old in existing:
            if old is not keep:
                self.steps.append(self._delete_step(old))

    def _current(self, schedule: Any) -> bool:
        """Does this recurring run point at the deployed version with the spec's cron?"""
        version_id = _version_of(schedule)
        return bool(self.ids.version) and (version_id, _cron_of(schedule)) == (
            self.ids.version,
            self.target.cron,
        )

    def _toggle_step(self, schedule: Any) -> Step[_Deploy]:
        what = f"recurring run {self.target.name}"
        if _enabled(schedule) == self.target.enabled:
            return Step(Action("unchanged", what, f"cron '{self.target.cron}'"))
        verb = "enable" if self.target.enabled else "disable (paused)"
        rid = schedule.recurring_run_id
        return Step(Action("update", what, verb), lambda job: job._set_enabled(rid))

    def _delete_step(self, schedule: Any) -> Step[_Deploy]:
        version_id, version = _version_of(schedule), "?"
        if version_id and self.ids.pipeline:
            version = self.server.version_name(self.ids.pipeline, version_id)
        why = self.target.unscheduled if self.target.cron is None else "replaced"
        rid = schedule.recurring_run_id
        return Step(
            Action(
                "delete",
                f"recurring run {schedule.display_name} ({rid})",
                f"{why}; was {version}, cron '{_cron_of(schedule)}'",
            ),
            lambda job: job._delete_schedule(rid),
        )

    # Applying ---------------------------------------------------------------------------

    def apply(self) -> None:
        """Each planned write in order; a failure names what was done and what was not."""
        secrets = self.server.settings.secrets
        apply(self.steps, self, note=AFTER_A_FAILURE, secrets=secrets, echo=self.echo)

    def _create_pipeline(self) -> None:
        from kfp_server_api import V2beta1Pipeline

        target, namespace = self.target, self.server.namespace
        body = V2beta1Pipeline(
            name=target.name,
            display_name=target.name,
            description=target.description,
            namespace=namespace,
        )
        pipeline = self.server.ensure(
            f"creating pipeline {target.name}",
            lambda: self.server.find_pipeline(target.name),
            lambda: self.server.client.pipelines.pipeline_service_create_pipeline(body),
        )
        self.ids.pipeline = self.server.id_of(
            pipeline, "pipeline_id", f"creating pipeline {target.name}"
        )

    def _upload(self) -> None:
        target, pipeline_id = self.target, _known(self.ids.pipeline)
        with tempfile.TemporaryDirectory(prefix="mlspec-kfp-") as folder:
            # The server reads the format from the file name: it must end in .yaml.
            path = Path(folder) / f"{target.name}.kfp.yaml"
            path.write_text(target.package, encoding="utf-8")
            version = self.server.ensure(
                f"uploading {self.version_label}",
                lambda: self.server.find_version(pipeline_id, target.version),
                lambda: self.server.client.upload_pipeline_version(
                    str(path),
                    pipeline_version_name=target.version,
                    pipeline_id=pipeline_id,
                    description=f"{target.name} {target.spec_version}, deployed by mlspec",
                ),
            )
        self.ids.version = self.server.id_of(
            version, "pipeline_version_id", f"uploading {self.version_label}"
        )

    def _create_experiment(self) -> None:
        name, namespace = self.target.name, self.server.namespace
        experiment = self.server.ensure(
            f"creating experiment {name}",
            lambda: self.server.find_experiment(name),
            lambda: self.server.client.create_experiment(
                name, description=f"Runs of the mlspec pipeline {name}", namespace=namespace
            ),
        )
        self.ids.experiment = self.server.id_of(
            experiment, "experiment_id", f"creating experiment {name}"
        )

    def _create_schedule(self) -> None:
        target = self.target
        experiment_id, version_id = _known(self.ids.experiment), _known(self.ids.version)

        def find() -> Any | None:
            found = self.server.find_schedules(experiment_id, target.name)
            return next((r for r in found if self._current(r)), None)

        description = f"{target.spec_cron} in {target.timezone} (spec); deployed by mlspec"
        self.server.ensure(
            f"creating recurring run {target.name}",
            find,
            lambda: self.server.client.create_recurring_run(
                experiment_id,
                target.name,
                description=description,
                cron_expression=target.cron,
                max_concurrency=MAX_CONCURRENCY,
                no_catchup=True,
                pipeline_id=_known(self.ids.pipeline),
                version_id=version_id,
                enabled=target.enabled,
            ),
        )

    def _set_enabled(self, recurring_run_id: str) -> None:
        client = self.server.client
        if self.target.enabled:
            self.server.call(
                f"enabling recurring run {recurring_run_id}",
                lambda: client.enable_recurring_run(recurring_run_id),
            )
        else:
            self.server.call(
                f"disabling recurring run {recurring_run_id}",
                lambda: client.disable_recurring_run(recurring_run_id),
            )

    def _delete_schedule(self, recurring_run_id: str) -> None:
        from kfp_server_api import ApiException

        def delete() -> None:
            try:
                self.server.client.delete_recurring_run(recurring_run_id)
            except ApiException as exc:
                if exc.status != 404:  # gone already (a retried delete that had succeeded)
                    raise

        self.server.call(f"deleting recurring run {recurring_run_id}", delete)

    # Running ----------------------------------------------------------------------------

    def trigger(self, wait: bool) -> None:
        """A run of the deployed version; with `wait`, followed to a final state."""
        experiment_id = _known(self.ids.experiment)
        name = f"{self.target.name} {self.target.version} {uuid.uuid4().hex[:8]}"
        run = self.server.ensure(
            f"starting a run of {self.version_label}",
            lambda: self.server.find_run(experiment_id, name),
            lambda: self.server.client.run_pipeline(
                experiment_id,
                name,
                pipeline_id=_known(self.ids.pipeline),
                version_id=_known(self.ids.version),
            ),
        )
        run_id = self.server.id_of(run, "run_id", f"starting a run of {self.version_label}")
        self.echo(f"run {run_id} started ({run.state or 'PENDING'})")
        if wait:
            self._follow(run_id, run.state)

    def _follow(self, run_id: str, state: str | None) -> None:
        """Polls the run, echoing each state change, until it ends; a run that did not
        succeed fails the command (the deploy itself stays)."""
        while True:
            self.server.deadline.pause(POLL_SECONDS, f"following run {run_id}")
            run = self.server.call(
                f"following run {run_id}", lambda: self.server.client.get_run(run_id)
            )
            if run.state != state:
                state = run.state
                self.echo(f"run {run_id}: {state}")
            if str(state).upper() in FINAL_STATES:
                break
        if str(state).upper() != "SUCCEEDED":
            failed = _failed_tasks(run)
            raise DeployError(
                f"run {run_id} ended {state}"
                + (f" (failed tasks: {', '.join(failed)})" if failed else "")
            )


def _schedule_action(verb: Verb, target: Wanted) -> Action:
    state = "enabled" if target.enabled else "disabled (paused)"
    zone = f", {target.timezone} in the spec: see the note" if zone_note(target) else ""
    detail = f"cron '{target.cron}'{zone}, {target.version}, {state}"
    return Action(verb, f"recurring run {target.name}", detail)


def zone_note(target: Wanted) -> str | None:
    if target.cron is None or target.timezone in (None, "UTC", "Etc/UTC"):
        return None
    return (
        f"note: Kubeflow Pipelines has no time zone per recurring run: cron "
        f"'{target.cron}' (the spec's '{target.spec_cron}' in {target.timezone}) fires in "
        "the scheduled-workflow controller's zone (its CRON_SCHEDULE_TIMEZONE, else the "
        f"container's, normally UTC); set that to {target.timezone} for the spec's times"
    )


def _version_of(schedule: Any) -> str | None:
    reference = schedule.pipeline_version_reference
    found = getattr(reference, "pipeline_version_id", None) or schedule.pipeline_version_id
    return str(found) if found else None


def _cron_of(schedule: Any) -> str | None:
    cron = getattr(getattr(schedule.trigger, "cron_schedule", None), "cron", None)
    return str(cron).strip() if cron else None


def _enabled(schedule: Any) -> bool:
    mode = str(schedule.mode or "").upper()
    if mode in ("ENABLE", "DISABLE"):
        return mode == "ENABLE"
    return str(schedule.status or "").upper() == "ENABLED"


def _failed_tasks(run: Any) -> list[str]:
    details = getattr(run, "run_details", None)
    tasks = getattr(details, "task_details", None) or []
    return [t.display_name for t in tasks if str(t.state).upper() == "FAILED" and t.display_name]


def _known(value: str | None) -> str:
    """An id an earlier step read or created (the plan's order guarantees it)."""
    assert value is not None
    return value


def offline_plan(request: Request) -> Plan:
    """What a deploy would apply, from the compiled files alone: Kubeflow Pipelines is not
    asked, so each action is an "apply" (created, or updated where it differs)."""
    target, given = wanted_from(request), request.settings
    namespace = given.get("kfp_namespace")
    where = f"namespace {namespace}" if namespace else ""
    name = target.name
    upload = f"upload {name}.kfp.yaml unless a version of that name exists"
    actions = [
        Action("apply", f"pipeline {name}", where),
        Action("apply", f"pipeline version {name}/{target.version}", upload),
        Action("apply", f"experiment {name}", where),
    ]
    if target.cron is None:
        actions.append(Action("delete", f"recurring runs named {name}", target.unscheduled))
    else:
        actions.append(_schedule_action("apply", target))
    note = zone_note(target)
    if note:
        request.echo(note)
    host = (given.get("kfp_host") or "").strip().rstrip("/")
    server = Settings(host, None, namespace).shown_host if host else ""
    return Plan("kubeflow", target.version, actions, server=server, offline=True)


def deploy(request: Request) -> Plan:
    """Plan the deploy from what the server has; unless a dry run, apply it (and run)."""
    target = wanted_from(request)
    settings = settings_from(request.settings)
    require_published(cast(ir.Pipeline, request.pipeline))
    try:
        job = _Deploy(Api(settings, request.deadline), target, request.echo)
        job.plan(run=request.run)
    except DeployError as exc:
        raise DeployError(f"{exc}\n  nothing was changed on the server") from None
    note = zone_note(target)
    if note:
        request.echo(note)
    actions = [s.action for s in job.steps]
    plan = Plan("kubeflow", target.version, actions, server=settings.shown_host)
    if request.dry_run:
        return plan
    job.apply()
    if request.run:
        try:
            job.trigger(request.wait)
        except DeployError as exc:
            raise DeployError(
                f"{exc}\n  the deploy itself is complete: {job.version_label} is deployed"
            ) from None
    return plan
