"""`mlspec deploy --target airflow`: the DAG file into the dags folder, checked through the API.

Airflow has no call that uploads a DAG: its dag processor imports the Python files of the folders
it reads (its dag bundles; by default one, `dags-folder`, at `[core] dags_folder`). So the deploy
writes the DAG file into such a folder itself, atomically, and then uses the REST API
(apache-airflow-client) to have it parsed, to read the verdict and to set the rest.
`airflow_dags_folder` is that folder as the machine running `mlspec deploy` sees it:

- a shared volume (NFS, a PersistentVolumeClaim that the dag processor and the workers mount):
  its mount point here. Subfolders work too: Airflow reads a bundle's folder recursively.
- git-sync (or Airflow 3's GitDagBundle): the synced folder is replaced at every sync, so a
  file written into it is lost, and this deploy never commits or pushes. Give the dag processor
  a second bundle, a LocalDagBundle on a shared volume (`[dag_processor]
  dag_bundle_config_list`), and deploy into that; the git-synced DAGs stay as they are. Or keep
  committing `mlspec compile` output to the synced repository and do without this deploy.

What a deploy does, in order; each remote call is retried on transient failures (timeouts, 5xx
within RETRY_SECONDS, a refused connection briefly), and 401/403 fail at once with the server's
answer:

1. Locally, before any remote call: check the settings, take the DAG file (named, like its
   dag_id, after the pipeline) and any file beside it from the compiled artifacts (the rollout
   manifests are for the cluster, not Airflow), and embed the version in the DAG file
   (`with_version`: a header line, the DAG tag `mlspec-version:<version>` and a line in the
   DAG's docs).
2. Read what is there: the files in the folder, the DAG (GET /api/v2/dags/{dag_id} and
   .../details). That is the plan; `--dry-run` stops here.
3. Write the files (the DAG file last), and have the DAG file parsed: a known DAG's file by
   PUT /api/v2/parseDagFile/{file_token} (the token is in the DAG's answer), a new file by the
   dag processor's next scan of the folder (bounded by PARSE_TIMEOUT). Then either the DAG
   shows the new version, in its tags (parsed) and its docs (serialized, what the scheduler
   runs), or GET /api/v2/importErrors has a new error for the file: the deploy fails with it and
   puts back the files that were there before (or removes the new ones), so the folder holds
   nothing broken.
   The watcher DAG of each data trigger (`<dag file>__watch_<hash of the path>.py`) follows,
   deployed the same way; a watcher file of this pipeline whose path the spec no longer
   watches is deleted (else it would go on raising its asset event).
4. Remove the folders of compiled files (`mlspec_runtime_*`, `mlspec_code_*`: the runtime and
   the pinned step package) that the previous DAG file used and no DAG file in the folder uses
   now: each is named by its digest, so every version lands beside the older ones, and a run
   that starts after the new file is parsed reads only the new ones.
5. Pause or unpause the DAG as the spec's `schedule.paused` says (PATCH /api/v2/dags/{dag_id});
   a DAG without a schedule is unpaused, so the runs that CI triggers start.
6. `--run`: POST /api/v2/dags/{dag_id}/dagRuns with a logical date; `--wait`: follow it
   (GET .../dagRuns/{run_id} and its taskInstances) and show the gates' verdicts from their
   logs (GET .../taskInstances/{task_id}/logs/1).

Credentials: a bearer token, or a username and password exchanged for one at the auth manager's
POST /auth/token (the simple and FAB auth managers of Airflow 3). Neither is ever printed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from mlspec.backends.airflow import triggers
from mlspec.backends.airflow.dag import file_name
from mlspec.backends.base import Artifact
from mlspec.backends.lineage import tracked
from mlspec.backends.rollout.backend import FOLDER as ROLLOUT_FOLDER
from mlspec.backends.taskdata import task_graph
from mlspec.compiler import ir
from mlspec.deploy import verdicts
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
    TimedOut,
    Transient,
    UnexpectedAnswer,
    answer_problem,
    apply,
    file_groups,
    is_refused,
    redact,
    retry,
    shown_url,
    unexpected_answer,
    url_secrets,
    write_atomically,
)
from mlspec.extras import install_hint
from mlspec.runtime.lineage import CLOSE_TASK, LINEAGE_TASK, TRACK_TASK

# `mlspec deploy` flags: connection settings, each also read from its environment variable.
SETTINGS = (
    Setting(
        "airflow_url",
        "AIRFLOW_API_URL",
        "Airflow API server, e.g. http://127.0.0.1:8080.",
        server=True,
    ),
    Setting(
        "airflow_token", "AIRFLOW_API_TOKEN", "Airflow API bearer token (or username/password)."
    ),
    Setting("airflow_username", "AIRFLOW_USERNAME", "Airflow user, to get a token."),
    Setting("airflow_password", "AIRFLOW_PASSWORD", "Airflow password, to get a token."),
    Setting("airflow_dags_folder", "MLSPEC_AIRFLOW_DAGS_FOLDER", "Folder the dag processor reads."),
)

T = TypeVar("T")

VERSION_TAG = "mlspec-version:"
# Bounded total time for retrying one call while the server times out or answers 5xx (a
# refused connection: common.REFUSED_SECONDS only).
RETRY_SECONDS = 60.0
# One request's connect-and-read limit: a server that hangs counts as a transient failure.
REQUEST_TIMEOUT = 30.0
# A new file waits for the dag processor's next scan of its folder: `[dag_processor]
# refresh_interval` is 300 s by default. Re-parsing a known file on request takes seconds.
PARSE_TIMEOUT = 330.0
POLL_SECONDS = 1.0
REPARSE_SECONDS = 10.0
RUN_POLL_SECONDS = 2.0
# A run still queued after this long is worth a hint: a paused DAG, or no scheduler.
QUEUED_HINT_SECONDS = 60.0
# The folders of compiled files beside a DAG file, named by their digest; its text names them.
_FOLDER_NAME = re.compile(r"\bmlspec_(?:runtime|code)_[0-9a-f]{12}\b")
_WATCHER_SUFFIX = re.compile(r"[0-9a-f]{8}\.py")
_DEPLOYED = re.compile(r"^# Deployed by `mlspec deploy` as (\S+)", re.MULTILINE)
FINAL_RUN_STATES = ("success", "failed")
AGAIN = "deploying again finishes the job (what is done shows as unchanged)"


# ---- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    url: str  # the API server's base URL, without /api/v2
    token: str | None
    username: str | None
    password: str | None
    dags_folder: Path

    @property
    def shown_url(self) -> str:
        return shown_url(self.url)

    @property
    def secrets(self) -> tuple[str | None, ...]:
        return (self.token, self.password, *url_secrets(self.url))


def settings_from(request: Request) -> Settings:
    """The connection settings, checked before anything is sent anywhere (SettingsError)."""
    given = request.settings
    url = (given.get("airflow_url") or "").strip().rstrip("/")
    if not url:
        raise SettingsError("no Airflow API server: pass --airflow-url or set AIRFLOW_API_URL")
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"the Airflow API URL must start with http:// or https://: {url!r}")
    url = url.removesuffix("/api/v2")
    token = given.get("airflow_token") or None
    username = given.get("airflow_username") or None
    password = given.get("airflow_password") or None
    if not token and not (username and password):
        raise SettingsError(
            "no Airflow credentials: pass a token (--airflow-token or AIRFLOW_API_TOKEN) or a "
            "username and password (AIRFLOW_USERNAME and AIRFLOW_PASSWORD)"
        )
    return Settings(url, token, username, password, _dags_folder(given.get("airflow_dags_folder")))


def _dags_folder(value: str | None) -> Path:
    if not value:
        raise SettingsError(
            "no dags folder: pass --airflow-dags-folder or set MLSPEC_AIRFLOW_DAGS_FOLDER to the "
            "folder the dag processor reads (a shared volume it mounts)"
        )
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise SettingsError(f"the dags folder {folder} does not exist or is not a folder")
    if not os.access(folder, os.W_OK):
        raise SettingsError(f"the dags folder {folder} is not writable here")
    return folder


# ---- the DAG file, computed locally ---------------------------------------------------------


@dataclass(frozen=True)
class DagFile:
    name: str  # file name in the dags folder
    dag_id: str
    text: str  # as written: the compiled DAG with the deployed version embedded
    version: str
    paused: bool  # as the spec wants it
    beside: tuple[Artifact, ...] = ()  # other compiled files the DAG's folder gets, as they are

    @property
    def tag(self) -> str:
        return VERSION_TAG + self.version


def dag_file(request: Request) -> DagFile:
    """The file to deploy and what it implies, from the pipeline and its compiled artifacts."""
    pipeline = cast(ir.Pipeline, request.pipeline)
    name = file_name(pipeline)
    watched = {w.file_name for w in triggers.watchers(pipeline)}
    # Not the rollout manifests (for the cluster) nor the watcher DAGs (deployed after it).
    files = [
        a
        for a in request.artifacts
        if not a.path.startswith(ROLLOUT_FOLDER) and a.path not in watched
    ]
    dag = next((a for a in files if a.path == name), None)
    if dag is None:
        found = ", ".join(a.path for a in files) or "none"
        raise DeployError(f"the compiled pipeline has no DAG file {name}, only: {found}")
    schedule = pipeline.schedule
    return DagFile(
        name=name,
        dag_id=pipeline.name,
        text=with_version(dag.text, request.version),
        version=request.version,
        paused=bool(schedule.paused) if schedule is not None else False,
        beside=tuple(a for a in files if a is not dag),
    )


def watcher_files(request: Request) -> tuple[DagFile, ...]:
    """The watcher DAGs of the pipeline's data triggers: each deployed like the pipeline's DAG
    (written, parsed, put back on an import error, unpaused), after it."""
    pipeline = cast(ir.Pipeline, request.pipeline)
    texts = {a.path: a.text for a in request.artifacts}
    return tuple(
        DagFile(
            name=w.file_name,
            dag_id=w.dag_id,
            text=with_version(texts[w.file_name], request.version),
            version=request.version,
            paused=False,  # it only looks; the pipeline's DAG is paused or not as the spec says
        )
        for w in triggers.watchers(pipeline)
    )


def with_version(text: str, version: str) -> str:
    """`text` with the version in a header line, a DAG tag and the DAG's docs.

    Airflow shows the tag in its DAG list and the docs on the DAG's page. They also tell the
    deploy what Airflow has: the tag is stored at every parse, the docs only with the serialized
    DAG the scheduler runs (which Airflow rewrites at most every `[core]
    min_serialized_dag_update_interval`). Both are set after the `with DAG(...) as dag:` block,
    so the compiled part of the file stays byte for byte what `mlspec compile` writes.
    """
    if "\n) as dag:\n" not in text:
        raise DeployError("the compiled DAG does not bind its DAG to `dag`: cannot tag it")
    lines = text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    line = f"# Deployed by `mlspec deploy` as {version}: the DAG's tag {VERSION_TAG}{version}.\n"
    docs = f"Deployed by `mlspec deploy` as {version}."
    trailer = (
        "\n\n# The deployed version (`mlspec deploy`): a tag in the DAG list, a line in the docs.\n"
        f"dag.tags.add({VERSION_TAG + version!r})\n"
        f"dag.doc_md = '\\n\\n'.join(filter(None, [dag.doc_md, {docs!r}]))\n"
    )
    return "".join([*lines[:header], line, *lines[header:]]).rstrip("\n") + trailer


def deployed_version(text: str) -> str | None:
    found = _DEPLOYED.search(text)
    return found.group(1).rstrip(":") if found else None


# ---- the API, with retries and clean errors -------------------------------------------------


class Api:
    """The calls a deploy makes through apache-airflow-client: transient failures retried within
    RETRY_SECONDS, 401/403 turned into a DeployError naming the server's answer."""

    def __init__(self, settings: Settings, deadline: Deadline = NO_DEADLINE) -> None:
        try:
            from airflow_client import client
        except ImportError:
            raise DeployError(
                f"the Airflow deploy needs apache-airflow-client: {install_hint('airflow')}"
            ) from None
        self.settings = settings
        self.deadline = deadline
        self.client = client
        configuration = client.Configuration(host=settings.url, retries=False)
        self.api = _checked_api_client(client)(configuration)
        self.configuration = configuration

    # -- plumbing --

    def call(
        self, what: str, call: Callable[[float], T], *, none_on: tuple[int, ...] = ()
    ) -> T | None:
        """`call(timeout)` retried on transient failures; None when the server answers with a
        status in `none_on` (404: not there; 409: already there, e.g. from a retried POST)."""
        return retry(
            lambda: self._attempt(what, call, none_on),
            what,
            total_seconds=RETRY_SECONDS,
            deadline=self.deadline,
        )

    def _attempt(self, what: str, call: Callable[[float], T], none_on: tuple[int, ...]) -> T | None:
        import urllib3

        try:
            return call(self.deadline.bound(REQUEST_TIMEOUT))
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
            raise Transient(self._clean(str(exc)), refused=is_refused(exc)) from None
        except UnexpectedAnswer as exc:
            raise unexpected_answer(what, self.server, self._clean(str(exc))) from None
        except self.client.ApiException as exc:
            status = exc.status or 0
            if status in none_on:
                return None
            if status == 0:  # the client's own failure, e.g. TLS
                raise DeployError(f"{what}: {self._clean(str(exc.reason))}") from None
            answer = self._clean(f"{status} {exc.reason or ''}".strip() + f": {_detail(exc.body)}")
            if status >= 500 or status == 429:
                raise Transient(answer) from None
            if status in (401, 403):
                raise DeployError(f"{what}: Airflow refused ({answer})") from None
            raise DeployError(f"{what}: Airflow answered {answer}") from None

    def _clean(self, text: str) -> str:
        return redact(text, *self.settings.secrets)

    @property
    def server(self) -> str:
        return f"the Airflow API at {self.settings.shown_url}"

    # -- authentication --

    def authenticate(self) -> None:
        """Use the token, or exchange username and password for one (POST /auth/token)."""
        token = self.settings.token
        if not token:
            what = f"logging in to {self.settings.shown_url} as {self.settings.username!r}"
            token = retry(self._login, what, total_seconds=RETRY_SECONDS, deadline=self.deadline)
        self.configuration.access_token = token
        self.settings = dataclasses.replace(self.settings, token=token)  # redacted from now on

    def _login(self) -> str:
        import urllib3

        body = {"username": self.settings.username, "password": self.settings.password}
        url = f"{self.settings.url}/auth/token"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            response = self.api.call_api(
                "POST",
                url,
                header_params=headers,
                body=body,
                _request_timeout=self.deadline.bound(REQUEST_TIMEOUT),
            )
            response.read()
        except urllib3.exceptions.HTTPError as exc:
            raise Transient(self._clean(str(exc)), refused=is_refused(exc)) from None
        status, text = response.status, (response.data or b"").decode("utf-8", "replace")
        if status in (200, 201):
            return self._token(text)
        answer = self._clean(f"{status}: {_detail(text)}")
        if status >= 500:
            raise Transient(answer)
        if status == 404:
            raise DeployError(
                f"{shown_url(url)} has no token endpoint ({answer}): this auth manager does not "
                "take a username and password here; pass a token (AIRFLOW_API_TOKEN) instead"
            )
        raise DeployError(f"Airflow refused the login of {self.settings.username!r} ({answer})")

    def _token(self, text: str) -> str:
        """The access token of the auth manager's answer: {"access_token": "..."}."""
        what = f"logging in to {self.settings.shown_url}"
        try:
            token = json.loads(text).get("access_token")
        except (ValueError, AttributeError) as exc:  # not JSON, or not an object
            problem = answer_problem(exc) if isinstance(exc, ValueError) else "not an object"
            raise unexpected_answer(what, self.server, problem) from None
        if not isinstance(token, str) or not token:
            raise unexpected_answer(what, self.server, "no access_token")
        return token

    # -- reads and writes --

    def dag(self, dag_id: str) -> Any | None:
        api = self.client.DAGApi(self.api)
        return self.call(
            f"reading DAG {dag_id}",
            lambda t: api.get_dag(dag_id, _request_timeout=t),
            none_on=(404,),
        )

    def docs(self, dag_id: str) -> str:
        """The DAG's docs as the serialized DAG has them (GET /api/v2/dags/{dag_id}/details)."""
        api = self.client.DAGApi(self.api)
        found = self.call(
            f"reading DAG {dag_id}'s details",
            lambda t: api.get_dag_details(dag_id, _request_timeout=t),
            none_on=(404,),
        )
        return str(getattr(found, "doc_md", None) or "")

    def import_errors(self, file_name: str) -> list[Any]:
        """Import errors of files named `file_name`, in any folder of any bundle."""
        api = self.client.ImportErrorApi(self.api)
        found = self.call(
            f"reading the import errors of {file_name}",
            lambda t: api.get_import_errors(
                filename_pattern=file_name, limit=100, _request_timeout=t
            ),
        )
        errors = found.import_errors if found is not None else []
        return [
            e for e in errors if e.filename == file_name or e.filename.endswith("/" + file_name)
        ]

    def reparse(self, dag_id: str, file_token: str) -> None:
        api = self.client.DAGParsingApi(self.api)
        self.call(
            f"asking Airflow to parse DAG {dag_id}",
            lambda t: api.reparse_dag_file(file_token, _request_timeout=t),
        )

    def set_paused(self, dag_id: str, paused: bool) -> None:
        api = self.client.DAGApi(self.api)
        body = self.client.DAGPatchBody(is_paused=paused)
        verb = "pausing" if paused else "unpausing"
        self.call(f"{verb} DAG {dag_id}", lambda t: api.patch_dag(dag_id, body, _request_timeout=t))

    def trigger(self, dag_id: str, run_id: str) -> None:
        """A run named `run_id`: a POST retried after a lost answer meets 409, and that is fine."""
        api = self.client.DagRunApi(self.api)
        body = self.client.TriggerDAGRunPostBody(
            dag_run_id=run_id, logical_date=datetime.datetime.now(datetime.UTC), conf={}
        )
        self.call(
            f"triggering a run of {dag_id}",
            lambda t: api.trigger_dag_run(dag_id, body, _request_timeout=t),
            none_on=(409,),
        )

    def run_state(self, dag_id: str, run_id: str) -> str:
        api = self.client.DagRunApi(self.api)
        run = self.call(
            f"reading run {run_id}", lambda t: api.get_dag_run(dag_id, run_id, _request_timeout=t)
        )
        return _value(getattr(run, "state", None))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        api = self.client.TaskInstanceApi(self.api)
        found = self.call(
            f"reading the tasks of run {run_id}",
            lambda t: api.get_task_instances(dag_id, run_id, _request_timeout=t),
        )
        tasks = found.task_instances if found is not None else []
        return {t.task_id: _value(t.state) for t in tasks if t.state is not None}

    def log_lines(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        api = self.client.TaskInstanceApi(self.api)
        found = self.call(
            f"reading the log of {task_id}",
            lambda t: api.get_log(
                dag_id, run_id, task_id, 1, full_content=True, _request_timeout=t
            ),
            none_on=(404,),
        )
        items = getattr(getattr(found, "content", None), "actual_instance", None) or []
        return [item if isinstance(item, str) else str(item.event) for item in items]


def _checked_api_client(client: Any) -> type:
    """apache-airflow-client's ApiClient, with an answer it cannot read (not JSON, or JSON that
    does not validate as the documented response) raised as UnexpectedAnswer: a ValueError or
    pydantic's ValidationError out of the generated code would end the command in a traceback."""

    class Checked(client.ApiClient):  # type: ignore[misc]
        def response_deserialize(self, response_data: Any, response_types_map: Any = None) -> Any:
            try:
                return super().response_deserialize(response_data, response_types_map)
            except client.ApiException:
                raise
            except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                raise UnexpectedAnswer(answer_problem(exc)) from None

    return Checked


def _value(state: Any) -> str:
    """A state enum's value: the client's enums print as `DagRunState.SUCCESS`."""
    return str(getattr(state, "value", state) or "")


def _detail(body: str | bytes | None) -> str:
    """The server's own message: FastAPI's `detail`, else the body, shortened."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    detail = detail if isinstance(detail, str) else json.dumps(detail)
    return detail.strip()[:500] or "(no message)"


# ---- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    """What is there before the deploy: the files in the folder and Airflow's view."""

    file_text: str | None  # the DAG file's
    dag: Any | None  # the DAGResponse, or None when Airflow does not know the DAG
    docs: str = ""  # the serialized DAG's docs: they name the version the scheduler has
    beside: dict[str, str | None] = field(default_factory=dict)  # the other files' texts
    unused: tuple[str, ...] = ()  # folders only the previous DAG file used: removed after it


def read_current(airflow: Api, dag: DagFile, folder: Path, ours: tuple[str, ...] = ()) -> Current:
    server = airflow.dag(dag.dag_id)
    docs = ""
    if server is not None:
        _check_same_file(server, dag)
        docs = airflow.docs(dag.dag_id)
    beside = {item.path: _text(folder / item.path) for item in dag.beside}
    text = _text(folder / dag.name)
    return Current(text, server, docs, beside, unused_folders(folder, dag, text, ours))


def unused_folders(
    folder: Path, dag: DagFile, previous: str | None, ours: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The compiled folders the previous DAG file named that neither the new one nor another
    DAG file in the folder names (DAG files beside each other share the runtime's folder, and
    a step package's when it is the same version). `ours`: the pipeline's other DAG files
    (its watchers), which this deploy rewrites before it deletes anything."""
    named = set(_FOLDER_NAME.findall(previous or "")) - set(_FOLDER_NAME.findall(dag.text))
    for other in sorted(folder.glob("*.py")):
        if named and other.name != dag.name and other.name not in ours:
            named -= set(_FOLDER_NAME.findall(other.read_text(encoding="utf-8", errors="replace")))
    return tuple(sorted(name for name in named if (folder / name).is_dir()))


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _check_same_file(server: Any, dag: DagFile) -> None:
    """Refuse to deploy a DAG whose id another file already defines: Airflow would flip
    between the two files at every parse."""
    where = str(server.relative_fileloc or server.fileloc or "")
    elsewhere = where and where != dag.name and not where.endswith("/" + dag.name)
    if elsewhere and not server.is_stale:  # stale: that file no longer defines it
        raise DeployError(
            f"Airflow already has DAG {dag.dag_id} from the file {where}, not {dag.name}: remove "
            "that file (or rename the pipeline) first; nothing was changed"
        )


def plan_steps(dag: DagFile, folder: Path, current: Current) -> list[Step[_Job]]:
    """What the deploy will do, in the order it does it: the files beside the DAG file, the DAG
    file (written, parsed, and put back on an import error), the DAG's paused state."""
    steps: list[Step[_Job]] = []
    for group in file_groups(dag.beside):
        befores = [current.beside.get(item.path) for item in group.files]
        changed = tuple(
            a for a, before in zip(group.files, befores, strict=True) if before != a.text
        )
        if len(group.files) == 1 and not group.path.endswith("/"):
            action = _file_action(group.what(folder), befores[0], group.files[0].text, dag.version)
        else:
            action = _folder_action(group.what(folder), befores, changed, dag.version)
        steps.append(Step(action, _writer(changed) if changed else None))
    action = _file_action(f"dag file {folder / dag.name}", current.file_text, dag.text, dag.version)
    steps.append(Step(action, None if current.file_text == dag.text else _Job.publish))
    action = _dag_action(dag, current)
    steps.append(Step(action, None if action.verb == "unchanged" else _Job.settle))
    for name in current.unused:
        action = Action("delete", f"folder {folder / name}/", f"no DAG uses it at {dag.version}")
        steps.append(Step(action, _remover(name)))
    return steps


def plan_all(
    airflow: Api,
    parts: list[tuple[DagFile, Current]],
    retired: list[str],
    folder: Path,
    echo: Callable[[str], None],
) -> list[Step[None]]:
    """The steps of the pipeline's DAG and then of each watcher DAG, each run on its own job;
    then the deletions: the watcher DAG files of data triggers the spec no longer has, and
    unused folders, once every file that named them is rewritten."""
    steps: list[Step[None]] = []
    deletes: list[Step[None]] = []
    for dag, current in parts:
        job = _Job(airflow, dag, folder, current, echo)
        for step in plan_steps(dag, folder, current):
            run = step.run
            bound = None if run is None else (lambda _, run=run, job=job: run(job))
            (deletes if step.action.verb == "delete" else steps).append(Step(step.action, bound))
    for name in retired:
        action = Action("delete", f"dag file {folder / name}", "its path is no longer watched")
        steps.append(Step(action, _unlinker(folder / name, echo)))
    return steps + deletes


def retired_watchers(folder: Path, dag: DagFile, watchers: tuple[DagFile, ...]) -> list[str]:
    """The pipeline's watcher DAG files in the folder (deployed by mlspec) that this version
    of the spec does not have: left there, they would go on raising their asset events."""
    keep = {w.name for w in watchers}
    prefix = dag.name.removesuffix(".py") + "__watch_"
    return [
        path.name
        for path in sorted(folder.glob(f"{prefix}*.py"))
        if _WATCHER_SUFFIX.fullmatch(path.name.removeprefix(prefix))
        and path.name not in keep
        and deployed_version(path.read_text(encoding="utf-8", errors="replace"))
    ]


def _unlinker(path: Path, echo: Callable[[str], None]) -> Callable[[None], None]:
    def unlink(_: None) -> None:
        path.unlink(missing_ok=True)
        echo(f"airflow: removed {path}, the watcher of a data trigger the spec no longer has")

    return unlink


def plan_actions(dag: DagFile, folder: Path, current: Current, run: bool) -> list[Action]:
    """The plan's actions; with `run`, the DAG run a dry run of `--run` would start."""
    actions = [step.action for step in plan_steps(dag, folder, current)]
    if run:
        actions.append(Action("create", f"dag run of {dag.dag_id}", "--run, after the deploy"))
    return actions


def _writer(items: tuple[Artifact, ...]) -> Callable[[_Job], None]:
    def write(job: _Job) -> None:
        for item in items:
            job.write(item.path, item.text)

    return write


def _remover(name: str) -> Callable[[_Job], None]:
    def remove(job: _Job) -> None:
        shutil.rmtree(job.folder / name)
        job.echo(f"airflow: removed {job.folder / name}/, which no DAG uses any more")

    return remove


def _folder_action(
    what: str, befores: list[str | None], changed: tuple[Artifact, ...], version: str
) -> Action:
    if all(before is None for before in befores):
        return Action("create", what, version)
    if not changed:
        return Action("unchanged", what, version)
    return Action("update", what, f"{len(changed)} of {len(befores)} files differ; {version}")


def _file_action(what: str, before: str | None, text: str, version: str) -> Action:
    if before is None:
        return Action("create", what, version)
    if before == text:
        return Action("unchanged", what, version)
    previous = deployed_version(before) or "a file mlspec did not deploy"
    return Action("update", what, f"{previous} -> {version}")


def _dag_action(dag: DagFile, current: Current) -> Action:
    state = "paused" if dag.paused else "unpaused"
    what = f"dag {dag.dag_id}"
    if current.dag is None:
        return Action("create", what, f"when the dag processor parses the file; then {state}")
    if not _parsed(dag, current.dag, current.docs):
        return Action("update", what, f"parse {dag.version}; then {state}")
    if bool(current.dag.is_paused) != dag.paused:
        return Action("update", what, f"{state} (schedule.paused: {str(dag.paused).lower()})")
    return Action("unchanged", what, f"{dag.version}, {state}")


def _parsed(dag: DagFile, server: Any, docs: str) -> bool:
    """Airflow has this version: parsed (the tag), serialized (the docs), no import errors."""
    return _clean_at(server, dag.version) and _docs_at(docs, dag.version)


# ---- deploying ------------------------------------------------------------------------------


def deploy(request: Request) -> Plan:
    """Deploy the compiled DAG as the module docstring says; the plan of what it did."""
    settings = settings_from(request)
    dag = dag_file(request)
    if request.run and dag.paused:
        raise DeployError(
            f"--run: the spec pauses {dag.dag_id} (schedule.paused: true), and a paused DAG's "
            "run waits in the queue until someone unpauses it; nothing was changed"
        )
    _note_rollout(request)
    airflow = Api(settings, request.deadline)
    airflow.authenticate()
    folder = settings.dags_folder
    watchers = watcher_files(request)
    retired = retired_watchers(folder, dag, watchers)
    ours = (*(w.name for w in watchers), *retired)  # rewritten or deleted before any folder
    parts = [(dag, read_current(airflow, dag, folder, ours))]
    for watcher in watchers:  # it names the DAG's folders: the DAG's step deletes old ones
        current = dataclasses.replace(read_current(airflow, watcher, folder), unused=())
        parts.append((watcher, current))
    steps = plan_all(airflow, parts, retired, folder, request.echo)
    actions = [step.action for step in steps]
    if request.run and request.dry_run:
        actions.append(Action("create", f"dag run of {dag.dag_id}", "--run, after the deploy"))
    plan = Plan("airflow", request.version, actions, server=settings.shown_url)
    if request.dry_run:
        return plan
    apply(steps, None, note=AGAIN, secrets=airflow.settings.secrets)
    if request.run:
        run_id = run_dag(airflow, dag, request, request.echo)
        plan.actions.append(Action("create", f"dag run {run_id}", "triggered"))
    return plan


def offline_plan(request: Request) -> Plan:
    """What a deploy would apply, from the compiled files alone: Airflow is not asked and the
    dags folder not read, so each action is an "apply" (created, or updated where it differs)."""
    dag = dag_file(request)
    given = request.settings
    folder = Path(given.get("airflow_dags_folder") or "<dags folder>").expanduser()
    url = (given.get("airflow_url") or "").strip().rstrip("/").removesuffix("/api/v2")
    state = "paused" if dag.paused else "unpaused"
    actions = [
        *(Action("apply", group.what(folder), dag.version) for group in file_groups(dag.beside)),
        Action("apply", f"dag file {folder / dag.name}", dag.version),
        Action("apply", f"dag {dag.dag_id}", f"parsed at {dag.version}; then {state}"),
    ]
    for watcher in watcher_files(request):
        actions.append(Action("apply", f"dag file {folder / watcher.name}", dag.version))
        actions.append(Action("apply", f"dag {watcher.dag_id}", f"parsed at {dag.version}"))
    return Plan("airflow", request.version, actions, server=shown_url(url), offline=True)


def _note_rollout(request: Request) -> None:
    rollout = [a.path for a in request.artifacts if a.path.startswith(ROLLOUT_FOLDER)]
    if rollout:
        request.echo(
            f"airflow: {len(rollout)} rollout manifest(s) under rollout/ are for the cluster, "
            "not Airflow: apply them there (e.g. through the GitOps repository)"
        )


@dataclass
class _Job:
    """What the steps act on; the DAG file's step publishes the files it wrote and, on an import
    error, puts back what was there before, so the folder never keeps a broken DAG."""

    airflow: Api
    dag: DagFile
    folder: Path
    current: Current
    echo: Callable[[str], None]
    server: Any | None = None  # the DAG as Airflow has it once this version is parsed
    written: list[str] = field(default_factory=list)  # the files this deploy wrote

    def write(self, name: str, text: str) -> None:
        path = self.folder / name
        write_atomically(path, text)
        self.written.append(name)
        self.echo(f"airflow: wrote {path} ({self.dag.version})")

    def publish(self) -> None:
        """Write the DAG file, have it parsed and wait for the verdict; undo the writes on an
        import error."""
        dag = self.dag
        before = _error_keys(self.airflow.import_errors(dag.name))
        if self.current.file_text != dag.text:
            self.write(dag.name, dag.text)
        outcome = _parse(self.airflow, dag, self.current.dag, before, self.echo)
        if isinstance(outcome, str):
            left = self._undo()
            raise DeployError(
                f"Airflow could not import {dag.name} ({dag.version}):\n{outcome.rstrip()}\n{left}"
            )
        self.echo(f"airflow: DAG {dag.dag_id} parsed at {dag.version}, no import errors")
        self.server = outcome

    def settle(self) -> None:
        """The DAG parsed at this version (when the file was there already), paused or not as
        the spec says."""
        dag, current = self.dag, self.current
        if self.server is None and current.dag and _parsed(dag, current.dag, current.docs):
            self.server = current.dag
        if self.server is None:
            self.publish()
        server: Any = self.server
        if bool(server.is_paused) != dag.paused:
            self.airflow.set_paused(dag.dag_id, dag.paused)
            self.echo(f"airflow: {'paused' if dag.paused else 'unpaused'} DAG {dag.dag_id}")

    def _undo(self) -> str:
        """Put back what was in the folder before; say what that leaves."""
        for item in self.dag.beside:
            if item.path in self.written:
                self._restore(item.path, self.current.beside.get(item.path))
        dag, current = self.dag, self.current
        path = self.folder / dag.name
        if current.file_text is None:
            self._restore(dag.name, None)
            return (
                f"The new file was removed from {path.parent}, so no DAG was created; Airflow "
                "drops its import error at its next scan of the folder."
            )
        if current.file_text == dag.text:
            return f"The file {path} was there before this deploy and is left as it was."
        self._restore(dag.name, current.file_text)
        previous = deployed_version(current.file_text) or "not deployed by mlspec"
        return f"The previous file ({previous}) is back in {path.parent}: " + _reparse_previous(
            self.airflow, dag, current
        )

    def _restore(self, name: str, text: str | None) -> None:
        path = self.folder / name
        if text is None:
            path.unlink(missing_ok=True)
            self.echo(f"airflow: removed {path}")
            # The folders this deploy made for it (the runtime's, a step package's and its
            # subpackages), once empty.
            for parent in path.relative_to(self.folder).parents[:-1]:
                if any((self.folder / parent).iterdir()):
                    break
                (self.folder / parent).rmdir()
        else:
            write_atomically(path, text)
            self.echo(f"airflow: put the previous {name} back")


def _error_keys(errors: list[Any]) -> set[tuple[int, str]]:
    """Import errors as (id, timestamp): Airflow updates an existing file's row in place."""
    return {(e.import_error_id, str(e.timestamp)) for e in errors}


def _parse(
    airflow: Api,
    dag: DagFile,
    server: Any | None,
    before: set[tuple[int, str]],
    echo: Callable[[str], None],
) -> Any:
    """Have Airflow parse the file now: the DAG at the new version, or a new import error's
    stack trace."""
    if server is not None and server.file_token:
        echo(f"airflow: asking Airflow to re-parse {dag.name}")
    else:
        echo(
            f"airflow: waiting for the dag processor to find {dag.name} (up to {PARSE_TIMEOUT:g} s)"
        )
    return await_parse(airflow, dag.name, dag.dag_id, dag.version, before, PARSE_TIMEOUT)


def await_parse(
    airflow: Api,
    name: str,
    dag_id: str,
    version: str | None,
    before: set[tuple[int, str]],
    timeout: float,
) -> Any:
    """Poll until Airflow has the DAG without import errors and at `version` (when given), in
    its tags and in its serialized DAG: its DAGResponse; or until the file has an import error
    not in `before`: its stack trace. A DeployError after `timeout` seconds.

    Parsing is asked for again every REPARSE_SECONDS while the DAG is known: the dag processor
    stores a changed serialized DAG at most every `min_serialized_dag_update_interval`.
    """
    deadline = time.monotonic() + timeout
    asked = -REPARSE_SECONDS
    left = "The file is left in place; Airflow picks it up at its next scan"
    while True:
        fresh = [e for e in airflow.import_errors(name) if _error_keys([e]) - before]
        if fresh:
            return str(fresh[0].stack_trace)
        server = airflow.dag(dag_id)
        if server is not None and _arrived(airflow, server, version):
            return server
        if time.monotonic() > deadline:
            raise DeployError(
                f"Airflow did not parse {name} within {timeout:g} s: is the dags folder the one "
                f"the dag processor reads, and is a dag processor running? {left}"
            )
        if server is not None and server.file_token and time.monotonic() - asked > REPARSE_SECONDS:
            airflow.reparse(dag_id, server.file_token)
            asked = time.monotonic()
        try:
            airflow.deadline.pause(POLL_SECONDS, f"waiting for Airflow to parse {name}")
        except TimedOut as exc:
            raise TimedOut(f"{exc}. {left}") from None


def _arrived(airflow: Api, server: Any, version: str | None) -> bool:
    """No import errors, and `version` both parsed (tags) and serialized (docs)."""
    if not _clean_at(server, version):
        return False
    return version is None or _docs_at(airflow.docs(server.dag_id), version)


def _clean_at(server: Any, version: str | None) -> bool:
    tags = {t.name for t in (server.tags or [])}
    return not server.has_import_errors and (version is None or VERSION_TAG + version in tags)


def _docs_at(docs: str, version: str) -> bool:
    return f"Deployed by `mlspec deploy` as {version}." in docs


def _reparse_previous(airflow: Api, dag: DagFile, current: Current) -> str:
    """Have Airflow parse the restored file, so its DAG is back and the error gone."""
    if current.dag is None or not current.dag.file_token:
        return "Airflow re-reads it at its next scan."
    previous = deployed_version(current.file_text or "")
    try:
        before = _error_keys(airflow.import_errors(dag.name))
        outcome = await_parse(airflow, dag.name, dag.dag_id, previous, before, PARSE_TIMEOUT)
    except DeployError as exc:
        return f"re-parsing it did not finish ({exc})."
    if isinstance(outcome, str):
        return "Airflow cannot import it either:\n" + outcome
    return f"Airflow has re-parsed it, and DAG {dag.dag_id} is as it was, without import errors."


# ---- running --------------------------------------------------------------------------------


def run_dag(airflow: Api, dag: DagFile, request: Request, echo: Callable[[str], None]) -> str:
    """Trigger a run; with --wait, follow it to its end. The run's id."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_id = f"mlspec__{dag.version}__{stamp}"
    airflow.trigger(dag.dag_id, run_id)
    echo(f"airflow: triggered run {run_id} of {dag.dag_id}")
    if request.wait:
        try:
            state = follow(airflow, dag.dag_id, run_id, echo)
        except TimedOut as exc:
            raise TimedOut(
                f"{exc}: run {run_id} goes on in Airflow; the DAG stays deployed at {dag.version}"
            ) from None
        pipeline = cast(ir.Pipeline, request.pipeline)
        for line in gate_verdicts(airflow, dag.dag_id, run_id, pipeline):
            echo(f"airflow: {line}")
        if state != "success":
            raise DeployError(
                f"run {run_id} of {dag.dag_id} ended {state}; the DAG stays deployed at "
                f"{dag.version}"
            )
        echo(f"airflow: run {run_id} succeeded")
    return run_id


def follow(airflow: Api, dag_id: str, run_id: str, echo: Callable[[str], None]) -> str:
    """Echo each task's state as it changes until the run ends; its final state."""
    seen: dict[str, str] = {}
    started = time.monotonic()
    hinted = False
    while True:
        state = airflow.run_state(dag_id, run_id)
        for task, task_state in sorted(airflow.task_states(dag_id, run_id).items()):
            if seen.get(task) != task_state:
                seen[task] = task_state
                echo(f"airflow:   {task}: {task_state}")
        if state in FINAL_RUN_STATES:
            return state
        if state == "queued" and not hinted and time.monotonic() - started > QUEUED_HINT_SECONDS:
            echo(f"airflow: run {run_id} is still queued: is a scheduler running?")
            hinted = True
        airflow.deadline.pause(RUN_POLL_SECONDS, f"following run {run_id}")


def gate_verdicts(airflow: Api, dag_id: str, run_id: str, pipeline: ir.Pipeline) -> list[str]:
    """The gates' verdicts and the promotions, from the logs of their tasks, and what tracking
    did not record, from those and mlspec's own tracking tasks' logs (deploy/verdicts)."""
    tasks = [node.name for node in task_graph(pipeline) if node.kind in ("gate", "promotion")]
    if tracked(pipeline):  # a task that did not run has no log (404): nothing to read
        tasks = list(dict.fromkeys([*tasks, TRACK_TASK, LINEAGE_TASK, CLOSE_TASK]))
    lines = [line for task in tasks for line in airflow.log_lines(dag_id, run_id, task)]
    return verdicts.render([gate.name for gate in pipeline.gates], verdicts.parse(lines))
