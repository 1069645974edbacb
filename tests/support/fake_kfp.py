"""A local stand-in for the Kubeflow Pipelines v2beta1 REST API, for the deploy tests.

No Kubeflow Pipelines server can run here (it needs Kubernetes, Argo Workflows, MySQL and object
storage), so `mlspec deploy --target kubeflow` is tested against this instead: a
ThreadingHTTPServer on 127.0.0.1 implementing the endpoints kfp.Client 2.17.3 calls for a deploy,
with the paths, query parameters, multipart fields and JSON shapes of the published API
(backend/api/v2beta1/swagger/*.swagger.json in kubeflow/pipelines, which the kfp_server_api
models are generated from): snake_case field names, enums as strings, `recurringRuns` as the
list field of ListRecurringRunsResponse, empty lists omitted as protojson does, errors as
google.rpc.Status (`code`, `message`) or, from the upload endpoints, `error_message`.

What it does not do: run anything (a run goes RUNNING and then to `run_final_state` after
`run_polls` polls), page (every match is returned), check the pipeline spec beyond its
pipelineInfo and root, evaluate cron, or know users and namespaces beyond filtering by them.

It keeps its state in memory, records every request, and can be told to fail: `fail(503, 2)`
answers the next two matching requests with 503; `after=True` fails a request after it took
effect (a lost answer); `token=` makes every request without that bearer token a 401.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

API = "/apis/v2beta1"
# google.rpc.Code for the HTTP statuses this server answers with.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14}
_UPLOADS = (f"{API}/pipelines/upload", f"{API}/pipelines/upload_version")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Recorded:
    """One request as the server saw it (the status is the one it answered with)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None
    status: int = 0


@dataclass
class _Failure:
    status: int
    times: int
    method: str | None
    path: str | None
    after: bool
    message: str


@dataclass
class FakeKfp:
    token: str | None = None
    run_polls: int = 0
    run_final_state: str = "SUCCEEDED"
    multi_user: bool = False
    requests: list[Recorded] = field(default_factory=list)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _polls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # Lifecycle --------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns the base URL."""
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # Test controls and views ------------------------------------------------------------

    def fail(
        self,
        status: int,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests (of `method`, to paths matching the regex `path`)
        with `status`; with `after`, once each has taken effect."""
        text = message or HTTPStatus(status).phrase
        self._failures.append(_Failure(status, times, method, path, after, text))

    @property
    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # Dispatch ---------------------------------------------------------------------------

    def handle(self, record: Recorded, headers: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(record)
            failure = self._failure_for(record)
            if failure is not None and not failure.after:
                failure.times -= 1
                return self._error(record.path, failure.status, failure.message)
            try:
                self._authorize(headers)
                payload = self._route(record)
            except HttpError as exc:
                return self._error(record.path, exc.status, exc.message)
            if failure is not None:
                failure.times -= 1
                return self._error(record.path, failure.status, failure.message)
            return 200, payload

    def _failure_for(self, record: Recorded) -> _Failure | None:
        for failure in self._failures:
            if failure.times <= 0:
                continue
            if failure.method and failure.method != record.method:
                continue
            if failure.path and not re.fullmatch(failure.path, record.path):
                continue
            return failure
        return None

    def _authorize(self, headers: dict[str, str]) -> None:
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            raise HttpError(401, "Unauthenticated: request is missing a valid bearer token")

    def _error(self, path: str, status: int, message: str) -> tuple[int, Any]:
        if path in _UPLOADS:
            return status, {"error_message": message, "error_details": message}
        code = _GRPC_CODES.get(status, 2)
        return status, {"error": message, "code": code, "message": message, "details": []}

    def _route(self, record: Recorded) -> Any:
        for method, pattern, name in _ROUTES:
            match = re.fullmatch(API + pattern, record.path)
            if match and method == record.method:
                return getattr(self, name)(record, **match.groupdict())
        raise HttpError(404, f"fake KFP: no {record.method} {record.path}")

    # Healthz ----------------------------------------------------------------------------

    def healthz(self, record: Recorded) -> Any:
        return {"multi_user": self.multi_user, "pipeline_store": "database"}

    # Pipelines and versions -------------------------------------------------------------

    def list_pipelines(self, record: Recorded) -> Any:
        namespace = record.query.get("namespace", "")
        found = [
            p
            for p in self.pipelines.values()
            if p["namespace"] == namespace and _matches(p, record.query.get("filter"))
        ]
        return _listed("pipelines", found)

    def create_pipeline(self, record: Recorded) -> Any:
        body = _json_body(record)
        return self._new_pipeline(
            body.get("name") or body.get("display_name"),
            body.get("display_name"),
            body.get("description", ""),
            body.get("namespace") or "",
        )

    def upload_pipeline(self, record: Recorded) -> Any:
        """Creates a pipeline and a first version of the same name, as KFP does."""
        upload = _upload(record)
        query = record.query
        name = query.get("name") or query.get("display_name") or upload["filename"]
        pipeline = self._new_pipeline(
            name, query.get("display_name"), query.get("description", ""), query.get("namespace")
        )
        self._new_version(pipeline["pipeline_id"], name, query.get("display_name"), "", upload)
        return pipeline

    def get_pipeline(self, record: Recorded, pipeline_id: str) -> Any:
        return self._pipeline(pipeline_id)

    def list_versions(self, record: Recorded, pipeline_id: str) -> Any:
        self._pipeline(pipeline_id)
        found = [
            _public(v)
            for v in self.versions.values()
            if v["pipeline_id"] == pipeline_id and _matches(v, record.query.get("filter"))
        ]
        return _listed("pipeline_versions", found)

    def get_version(self, record: Recorded, pipeline_id: str, version_id: str) -> Any:
        version = self.versions.get(version_id)
        if version is None or version["pipeline_id"] != pipeline_id:
            raise HttpError(404, f"PipelineVersion {version_id} not found")
        return _public(version)

    def upload_version(self, record: Recorded) -> Any:
        upload = _upload(record)
        query = record.query
        pipeline_id = query.get("pipelineid", "")
        if pipeline_id not in self.pipelines:
            raise HttpError(400, "Failed to create a pipeline version")
        name = query.get("name") or query.get("display_name") or upload["filename"]
        version = self._new_version(
            pipeline_id, name, query.get("display_name"), query.get("description", ""), upload
        )
        return _public(version)

    def _new_pipeline(
        self, name: str | None, display_name: str | None, description: str, namespace: str | None
    ) -> dict[str, Any]:
        if not name:
            raise HttpError(400, "Invalid input error: pipeline name is required")
        namespace = namespace or ""
        if any(p["name"] == name and p["namespace"] == namespace for p in self.pipelines.values()):
            raise HttpError(409, f"Already exists: pipeline {name!r} in namespace {namespace!r}")
        pipeline = {
            "pipeline_id": _id(),
            "name": name,
            "display_name": display_name or name,
            "description": description,
            "created_at": _now(),
            "namespace": namespace,
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def _new_version(
        self,
        pipeline_id: str,
        name: str,
        display_name: str | None,
        description: str,
        upload: dict[str, Any],
    ) -> dict[str, Any]:
        if any(
            v["pipeline_id"] == pipeline_id and v["name"] == name for v in self.versions.values()
        ):
            raise HttpError(409, "Failed to create a pipeline version")
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": _id(),
            "name": name,
            "display_name": display_name or name,
            "description": description,
            "created_at": _now(),
            "pipeline_spec": upload["spec"],
            "_package": upload,  # not part of the API: what was uploaded, for the tests
        }
        self.versions[version["pipeline_version_id"]] = version
        return version

    def _pipeline(self, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self.pipelines:
            raise HttpError(404, f"Pipeline {pipeline_id} not found")
        return self.pipelines[pipeline_id]

    # Experiments ------------------------------------------------------------------------

    def list_experiments(self, record: Recorded) -> Any:
        namespace = record.query.get("namespace", "")
        found = [
            e
            for e in self.experiments.values()
            if e["namespace"] == namespace and _matches(e, record.query.get("filter"))
        ]
        return _listed("experiments", found)

    def create_experiment(self, record: Recorded) -> Any:
        body = _json_body(record)
        name, namespace = body.get("display_name"), body.get("namespace") or ""
        if not name:
            raise HttpError(400, "Invalid input error: experiment display_name is required")
        if any(
            e["display_name"] == name and e["namespace"] == namespace
            for e in self.experiments.values()
        ):
            raise HttpError(409, f"Already exists: experiment {name!r}")
        experiment = {
            "experiment_id": _id(),
            "display_name": name,
            "description": body.get("description") or "",
            "created_at": _now(),
            "namespace": namespace,
            "storage_state": "AVAILABLE",
        }
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def get_experiment(self, record: Recorded, experiment_id: str) -> Any:
        return self._experiment(experiment_id)

    def _experiment(self, experiment_id: str | None) -> dict[str, Any]:
        if not experiment_id or experiment_id not in self.experiments:
            raise HttpError(404, f"Experiment {experiment_id} not found")
        return self.experiments[experiment_id]

    # Recurring runs ---------------------------------------------------------------------

    def list_recurring_runs(self, record: Recorded) -> Any:
        query = record.query
        found = [
            r
            for r in self.recurring_runs.values()
            if query.get("experiment_id") in (None, r["experiment_id"])
            and query.get("namespace") in (None, "", r["namespace"])
            and _matches(r, query.get("filter"))
        ]
        return _listed("recurringRuns", found)

    def create_recurring_run(self, record: Recorded) -> Any:
        body = _json_body(record)
        experiment = self._experiment(body.get("experiment_id"))
        reference = self._version_reference(body)
        cron = _cron(body.get("trigger") or {})
        concurrency = int(body.get("max_concurrency") or 1)
        if not 1 <= concurrency <= 10:
            raise HttpError(400, "Invalid input error: max_concurrency must be between 1 and 10")
        mode = body.get("mode") or "MODE_UNSPECIFIED"
        run = {
            "recurring_run_id": _id(),
            "display_name": body.get("display_name") or "",
            "description": body.get("description") or "",
            "pipeline_version_reference": reference,
            "runtime_config": body.get("runtime_config") or {},
            "max_concurrency": str(concurrency),
            "trigger": {"cron_schedule": {"cron": cron}},
            "mode": mode,
            "created_at": _now(),
            "updated_at": _now(),
            "status": "ENABLED" if mode == "ENABLE" else "DISABLED",
            "no_catchup": bool(body.get("no_catchup")),
            "namespace": experiment["namespace"],
            "experiment_id": experiment["experiment_id"],
        }
        self.recurring_runs[run["recurring_run_id"]] = run
        return run

    def get_recurring_run(self, record: Recorded, recurring_run_id: str) -> Any:
        return self._recurring_run(recurring_run_id)

    def delete_recurring_run(self, record: Recorded, recurring_run_id: str) -> Any:
        self._recurring_run(recurring_run_id)
        del self.recurring_runs[recurring_run_id]
        return {}

    def enable_recurring_run(self, record: Recorded, recurring_run_id: str) -> Any:
        run = self._recurring_run(recurring_run_id)
        run.update(mode="ENABLE", status="ENABLED", updated_at=_now())
        return {}

    def disable_recurring_run(self, record: Recorded, recurring_run_id: str) -> Any:
        run = self._recurring_run(recurring_run_id)
        run.update(mode="DISABLE", status="DISABLED", updated_at=_now())
        return {}

    def _recurring_run(self, recurring_run_id: str) -> dict[str, Any]:
        if recurring_run_id not in self.recurring_runs:
            raise HttpError(404, f"RecurringRun {recurring_run_id} not found")
        return self.recurring_runs[recurring_run_id]

    def _version_reference(self, body: dict[str, Any]) -> dict[str, str]:
        reference = body.get("pipeline_version_reference") or {}
        version = self.versions.get(reference.get("pipeline_version_id", ""))
        if version is None or version["pipeline_id"] != reference.get("pipeline_id"):
            raise HttpError(400, f"Invalid input error: no pipeline version {reference}")
        return {
            "pipeline_id": version["pipeline_id"],
            "pipeline_version_id": reference["pipeline_version_id"],
        }

    # Runs -------------------------------------------------------------------------------

    def list_runs(self, record: Recorded) -> Any:
        query = record.query
        found = [
            self._shown_run(r)
            for r in self.runs.values()
            if query.get("experiment_id") in (None, r["experiment_id"])
            and _matches(r, query.get("filter"))
        ]
        return _listed("runs", found)

    def create_run(self, record: Recorded) -> Any:
        body = _json_body(record)
        experiment = self._experiment(body.get("experiment_id"))
        run = {
            "experiment_id": experiment["experiment_id"],
            "run_id": _id(),
            "display_name": body.get("display_name") or "",
            "storage_state": "AVAILABLE",
            "pipeline_version_reference": self._version_reference(body),
            "runtime_config": body.get("runtime_config") or {},
            "created_at": _now(),
            "state": "PENDING",
            "state_history": [{"update_time": _now(), "state": "PENDING"}],
        }
        self.runs[run["run_id"]] = run
        self._polls[run["run_id"]] = 0
        return run

    def get_run(self, record: Recorded, run_id: str) -> Any:
        if run_id not in self.runs:
            raise HttpError(404, f"Run {run_id} not found")
        self._polls[run_id] += 1
        run = self.runs[run_id]
        state = "RUNNING" if self._polls[run_id] <= self.run_polls else self.run_final_state
        if state != run["state"]:
            run["state"] = state
            run["state_history"].append({"update_time": _now(), "state": state})
            if state != "RUNNING":
                run["finished_at"] = _now()
        return self._shown_run(run)

    def _shown_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run with its task details: each task of the uploaded spec in the run's state."""
        version = self.versions[run["pipeline_version_reference"]["pipeline_version_id"]]
        tasks = version["pipeline_spec"].get("root", {}).get("dag", {}).get("tasks") or {}
        state = run["state"] if run["state"] != "PENDING" else None
        details = [
            {
                "run_id": run["run_id"],
                "task_id": f"{run['run_id']}-{i}",
                "display_name": name,
                **({"state": state} if state else {}),
            }
            for i, name in enumerate(sorted(tasks))
        ]
        return {**run, "run_details": {"task_details": details}} if details else run


def _cron(trigger: dict[str, Any]) -> str:
    """The trigger's cron, checked the way KFP's robfig/cron parser takes it: 6 fields (seconds
    first), 5 (then read as seconds to month!) or a @descriptor."""
    cron = ((trigger.get("cron_schedule") or {}).get("cron") or "").strip()
    if not cron:
        raise HttpError(400, "Invalid input error: only cron triggers are implemented here")
    if not (cron.startswith("@") or len(cron.split()) in (5, 6)):
        raise HttpError(400, f"Invalid input error: invalid cron expression {cron!r}")
    return cron


def _matches(item: dict[str, Any], raw_filter: str | None) -> bool:
    """filter.proto predicates; EQUALS on string fields is all a deploy uses."""
    if not raw_filter:
        return True
    for predicate in json.loads(raw_filter).get("predicates", []):
        if predicate.get("operation") not in (1, "EQUALS"):
            raise HttpError(400, f"fake KFP: filter operation {predicate.get('operation')}")
        value = predicate.get("stringValue", predicate.get("string_value"))
        if item.get(predicate.get("key")) != value:
            return False
    return True


def _listed(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A List response as protojson writes it: an empty list is left out."""
    return {key: items, "total_size": len(items)} if items else {}


def _public(version: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in version.items() if not k.startswith("_")}


def _json_body(record: Recorded) -> dict[str, Any]:
    if not isinstance(record.body, dict):
        raise HttpError(400, "Invalid input error: expected a JSON object")
    return record.body


def _upload(record: Recorded) -> dict[str, Any]:
    """The multipart `uploadfile`, which must be a pipeline spec YAML (first document)."""
    upload = record.body if isinstance(record.body, dict) else {}
    upload = upload.get("uploadfile")
    if not upload:
        raise HttpError(400, "Failed to read pipeline from file")
    if not upload["filename"].endswith((".yaml", ".yml")):
        raise HttpError(400, "Failed to read a pipeline spec file")
    try:
        spec = next(yaml.safe_load_all(upload["text"]))
    except (yaml.YAMLError, StopIteration):
        raise HttpError(400, "Failed to read a pipeline spec file") from None
    if not isinstance(spec, dict) or "pipelineInfo" not in spec or "root" not in spec:
        raise HttpError(400, "Failed to read a pipeline spec file")
    return {**upload, "spec": spec}


def _id() -> str:
    return str(uuid.uuid4())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_ROUTES = [
    ("GET", "/healthz", "healthz"),
    ("GET", "/pipelines", "list_pipelines"),
    ("POST", "/pipelines", "create_pipeline"),
    ("POST", "/pipelines/upload", "upload_pipeline"),
    ("POST", "/pipelines/upload_version", "upload_version"),
    ("GET", "/pipelines/(?P<pipeline_id>[^/]+)", "get_pipeline"),
    ("GET", "/pipelines/(?P<pipeline_id>[^/]+)/versions", "list_versions"),
    ("GET", "/pipelines/(?P<pipeline_id>[^/]+)/versions/(?P<version_id>[^/]+)", "get_version"),
    ("GET", "/experiments", "list_experiments"),
    ("POST", "/experiments", "create_experiment"),
    ("GET", "/experiments/(?P<experiment_id>[^/]+)", "get_experiment"),
    ("GET", "/recurringruns", "list_recurring_runs"),
    ("POST", "/recurringruns", "create_recurring_run"),
    ("GET", "/recurringruns/(?P<recurring_run_id>[^/:]+)", "get_recurring_run"),
    ("DELETE", "/recurringruns/(?P<recurring_run_id>[^/:]+)", "delete_recurring_run"),
    ("POST", "/recurringruns/(?P<recurring_run_id>[^/:]+):enable", "enable_recurring_run"),
    ("POST", "/recurringruns/(?P<recurring_run_id>[^/:]+):disable", "disable_recurring_run"),
    ("GET", "/runs", "list_runs"),
    ("POST", "/runs", "create_run"),
    ("GET", "/runs/(?P<run_id>[^/:]+)", "get_run"),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3's pool expects
    server_state: FakeKfp

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests` instead."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Recorded(
            self.command, parts.path, query, _body(raw, headers), headers.get("authorization")
        )
        status, payload = self.server_state.handle(record, headers)
        record.status = status
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _body(raw: bytes, headers: dict[str, str]) -> Any:
    """JSON bodies as objects; multipart forms as {field: {filename, text}}."""
    kind = headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + kind.encode() + b"\r\n\r\n" + raw
        )
        form = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            form[str(name)] = {
                "filename": part.get_filename() or "",
                "text": payload.decode("utf-8", "replace"),
            }
        return form
    if raw:
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")
    return None
