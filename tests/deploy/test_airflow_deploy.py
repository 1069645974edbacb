"""`mlspec deploy --target airflow`: to a real Airflow 3.3.2 through apache-airflow-client.

Starts, once for the slow tests of this module: the separate Airflow environment
(tests/support/airflow_env.py, built once per machine with uv), a copy of the test run's migrated
metadata database (tests/support/engines.py) in a temporary AIRFLOW_HOME (SQLite), then
`airflow api-server`, `airflow scheduler` (LocalExecutor) and `airflow dag-processor` on
127.0.0.1 at a free port, with the simple auth manager and a pre-seeded password. Each is its own
process group, stopped (SIGTERM, then SIGKILL) when the module's tests end, also when one fails.
The fast tests use no Airflow: a closed port, or a tiny HTTP server in a thread that answers like
the API server does.
"""

from __future__ import annotations

import ast
import contextlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from support import airflow_env, monitoring, serving

from mlspec.backends.airflow import AirflowBackend
from mlspec.backends.base import Artifact
from mlspec.cli import EXIT_REFUSED, main
from mlspec.compiler import analyze_file, analyze_text
from mlspec.deploy import airflow as deploy_airflow
from mlspec.deploy.common import DeployError, Request, content_version
from mlspec.runtime.registry import promote_after_gates

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
SPEC = FLAGSHIP / "pipeline.yaml"
DAG_ID = "breast-cancer-classifier"
DAG_FILE = "breast_cancer_classifier.py"
PASSWORD = "not-admin-Pw-7f3a91"  # pre-seeded for the simple auth manager's user admin
BROKEN_IMPORT = "import mlspec_no_such_module_for_the_test\n"

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def request_for(
    spec_text: str,
    settings: dict[str, str | None],
    *,
    edit=None,  # a function of the DAG artifact's text, to break it on purpose
    name: str | None = None,  # another pipeline name: another DAG and file
    **options: object,
) -> Request:
    """A Request as `mlspec deploy` builds it, optionally with the DAG file edited."""
    if name:
        spec_text = spec_text.replace(f"name: {DAG_ID}", f"name: {name}")
    pipeline = analyze_text(spec_text, "pipeline.yaml").pipeline
    artifacts = tuple(
        # The DAG file: the one top-level file (the runtime package and manifests are folders).
        Artifact(a.path, edit(a.text)) if edit and "/" not in a.path else a
        for a in AirflowBackend().emit(pipeline)
    )
    lines: list[str] = []
    return Request(
        spec_path="pipeline.yaml",
        pipeline=pipeline,
        artifacts=artifacts,
        version=content_version(artifacts),
        settings=settings,
        echo=lines.append,
        **options,  # type: ignore[arg-type]
    )


def break_it(text: str) -> str:
    """Valid Python that Airflow cannot import: a module that does not exist."""
    return text.replace("import datetime\n", "import datetime\n" + BROKEN_IMPORT, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- fast: everything that needs no Airflow --------------------------------------------------


FLAGSHIP_TEXT = SPEC.read_text()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dags = tmp_path / "dags"
    dags.mkdir()
    return dags


def settings(folder: Path, url: str = "http://127.0.0.1:9", **extra: str | None) -> dict:
    return {
        "airflow_url": url,
        "airflow_username": "admin",
        "airflow_password": PASSWORD,
        "airflow_dags_folder": str(folder),
        **extra,
    }


def test_the_dag_file_carries_the_version_as_a_header_and_a_tag(folder: Path) -> None:
    request = request_for(FLAGSHIP_TEXT, settings(folder))
    dag = deploy_airflow.dag_file(request)
    [compiled] = [a for a in request.artifacts if a.path == DAG_FILE]
    assert dag.name == DAG_FILE
    assert dag.dag_id == DAG_ID
    # Beside the DAG: only the runtime package it loads (one folder), never the manifests.
    [runtime] = {a.path.partition("/")[0] for a in dag.beside}
    assert runtime.startswith("mlspec_runtime_")
    assert {a.path for a in dag.beside} == {
        a.path for a in request.artifacts if a.path.startswith(f"{runtime}/")
    }
    assert dag.paused is False  # the flagship's schedule is not paused
    assert dag.version == request.version
    assert deploy_airflow.deployed_version(dag.text) == request.version
    assert f"dag.tags.add('mlspec-version:{request.version}')" in dag.text
    assert f"Deployed by `mlspec deploy` as {request.version}.'" in dag.text  # the DAG's docs
    ast.parse(dag.text)
    # The compiled part is untouched: only the header line and the trailer are added.
    line = f"# Deployed by `mlspec deploy` as {request.version}"
    header, _, rest = dag.text.partition(line)
    assert compiled.text.startswith(header)
    assert rest.split("\n", 1)[1].startswith(compiled.text[len(header) :].rstrip("\n"))
    # The same spec gives the same file: a re-deploy can be a no-op.
    assert deploy_airflow.dag_file(request_for(FLAGSHIP_TEXT, settings(folder))).text == dag.text


def test_the_dag_id_file_and_paused_state_come_from_the_pipeline(folder: Path) -> None:
    """What the IR knows is not read back from the file: the deploy used to parse the DAG's
    syntax tree for its dag_id, and refused a file whose dag_id was no literal."""
    text = FLAGSHIP_TEXT.replace(
        "timezone: Europe/Berlin}", "timezone: Europe/Berlin, paused: true}"
    )
    assert text != FLAGSHIP_TEXT

    def computed(dag_text: str) -> str:
        assert f"dag_id='{DAG_ID}'," in dag_text
        return dag_text.replace(f"dag_id='{DAG_ID}',", f"dag_id='{DAG_ID}'.strip(),", 1)

    dag = deploy_airflow.dag_file(request_for(text, settings(folder), edit=computed))
    assert (dag.dag_id, dag.name, dag.paused) == (DAG_ID, DAG_FILE, True)


def _current(text: str | None, dag: object | None, docs: str = ""):
    return deploy_airflow.Current(text, dag, docs)


def _server_dag(tags: list[str], paused: bool, errors: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        tags=[SimpleNamespace(name=t) for t in tags],
        is_paused=paused,
        has_import_errors=errors,
        file_token="t",
        relative_fileloc=DAG_FILE,
        fileloc="/x/" + DAG_FILE,
    )


def test_the_plan_says_what_is_created_updated_or_left_alone(folder: Path) -> None:
    dag = deploy_airflow.dag_file(request_for(FLAGSHIP_TEXT, settings(folder)))
    fresh = deploy_airflow.plan_actions(dag, folder, _current(None, None), run=True)
    plan = deploy_airflow.Plan("airflow", dag.version, fresh).render()
    runtime = runtime_folder(dag)
    assert plan == (
        f"deploy to airflow, version {dag.version}:\n"
        f"  create    folder {folder / runtime}/ ({len(dag.beside)} files) ({dag.version})\n"
        f"  create    dag file {folder / DAG_FILE} ({dag.version})\n"
        f"  create    dag {DAG_ID} (when the dag processor parses the file; then unpaused)\n"
        f"  create    dag run of {DAG_ID} (--run, after the deploy)\n"
    )
    old = dag.text.replace(dag.version, "mlspec-000000000000")
    server = _server_dag(["mlspec", "mlspec-version:mlspec-000000000000"], paused=True)
    update = deploy_airflow.plan_actions(dag, folder, _current(old, server), run=False)
    assert [str(a) for a in update][1:] == [
        f"update    dag file {folder / DAG_FILE} (mlspec-000000000000 -> {dag.version})",
        f"update    dag {DAG_ID} (parse {dag.version}; then unpaused)",
    ]
    docs = f"Deployed by `mlspec deploy` as {dag.version}."
    same = replace(
        _current(dag.text, _server_dag(["mlspec", dag.tag], paused=False), docs),
        beside={a.path: a.text for a in dag.beside},  # the runtime package is there already
    )
    plan = deploy_airflow.Plan(
        "airflow", dag.version, deploy_airflow.plan_actions(dag, folder, same, run=False)
    )
    assert not plan.changes
    assert plan.render().endswith("  nothing to change\n")
    # Parsed (the tag) but not yet serialized (the docs): Airflow must parse it again.
    unserialized = replace(same, docs="Deployed by `mlspec deploy` as mlspec-000000000000.")
    [*_, action] = deploy_airflow.plan_actions(dag, folder, unserialized, run=False)
    assert str(action) == f"update    dag {DAG_ID} (parse {dag.version}; then unpaused)"
    paused = replace(same, dag=_server_dag(["mlspec", dag.tag], paused=True))
    [*_, action] = deploy_airflow.plan_actions(dag, folder, paused, run=False)
    assert str(action) == f"update    dag {DAG_ID} (unpaused (schedule.paused: false))"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"airflow_url": None}, "pass --airflow-url or set AIRFLOW_API_URL"),
        ({"airflow_url": "127.0.0.1:8080"}, "must start with http:// or https://"),
        ({"airflow_password": None}, "no Airflow credentials"),
        ({"airflow_username": None, "airflow_password": None}, "AIRFLOW_API_TOKEN"),
        ({"airflow_dags_folder": None}, "MLSPEC_AIRFLOW_DAGS_FOLDER"),
        ({"airflow_dags_folder": "/nonexistent/dags"}, "does not exist"),
    ],
)
def test_settings_are_usage_errors_checked_before_any_remote_call(
    folder: Path, change: dict, message: str
) -> None:
    given = {**settings(folder), **change}
    env = {
        "AIRFLOW_API_URL": given["airflow_url"],  # a closed port: no call may be made
        "AIRFLOW_API_TOKEN": None,
        "AIRFLOW_USERNAME": given["airflow_username"],
        "AIRFLOW_PASSWORD": given["airflow_password"],
        "MLSPEC_AIRFLOW_DAGS_FOLDER": given["airflow_dags_folder"],
    }
    result = CliRunner().invoke(main, ["deploy", str(SPEC), "-t", "airflow"], env=env)
    assert result.exit_code == 2, result.output  # a usage error, as on every target
    assert message in result.stderr
    assert PASSWORD not in result.output


def test_a_token_alone_is_enough_and_a_url_with_api_v2_is_accepted(folder: Path) -> None:
    given = settings(folder, "http://af:8080/api/v2/", airflow_token="tok")
    given |= {"airflow_username": None, "airflow_password": None}
    found = deploy_airflow.settings_from(request_for(FLAGSHIP_TEXT, given))
    assert (found.url, found.token, found.dags_folder) == ("http://af:8080", "tok", folder)


def test_run_of_a_paused_dag_is_refused_before_any_remote_call(folder: Path) -> None:
    text = FLAGSHIP_TEXT.replace(
        "timezone: Europe/Berlin}", "timezone: Europe/Berlin, paused: true}"
    )
    request = request_for(text, settings(folder), run=True)
    with pytest.raises(DeployError, match=re.escape("schedule.paused: true")):
        deploy_airflow.deploy(request)  # the URL is a closed port: no call was made


def test_a_stopped_server_fails_cleanly_and_nothing_is_written(folder: Path) -> None:
    port = free_port()  # nothing listens there: connection refused, retried briefly, given up
    env = {
        "AIRFLOW_API_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW_USERNAME": "admin",
        "AIRFLOW_PASSWORD": PASSWORD,
        "MLSPEC_AIRFLOW_DAGS_FOLDER": str(folder),
    }
    started = time.monotonic()
    result = CliRunner().invoke(main, ["deploy", str(SPEC), "-t", "airflow"], env=env)
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "deploy failed: logging in to" in result.output
    assert "the connection was refused" in result.output
    assert "Connection refused" in result.output
    assert PASSWORD not in result.output
    assert list(folder.iterdir()) == []
    assert time.monotonic() - started < 20


# A stand-in for the API server's answers: (status, JSON body) per request, in order.
class _Scripted(http.server.BaseHTTPRequestHandler):
    answers: list[tuple[int, dict]] = []
    seen: list[tuple[str, str, str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.seen.append((self.command, self.path, self.headers.get("Authorization") or ""))
        status, payload = self.answers.pop(0) if self.answers else (500, {"detail": "script"})
        data = json.dumps(payload).replace("$BODY", body.replace('"', "'")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"answers": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_login_fails_fast_with_the_servers_answer_and_no_password(
    folder: Path, scripted: tuple[str, type[_Scripted]]
) -> None:
    url, handler = scripted
    # A careless server that echoes the request body: the password must still not show.
    handler.answers = [(401, {"detail": "Invalid credentials for $BODY"})]
    with pytest.raises(DeployError) as caught:
        deploy_airflow.deploy(request_for(FLAGSHIP_TEXT, settings(folder, url)))
    message = str(caught.value)
    assert message.startswith("Airflow refused the login of 'admin' (401: Invalid credentials")
    assert PASSWORD not in message and "***" in message
    assert [s[:2] for s in handler.seen] == [("POST", "/auth/token")]  # no retry of a 401


def test_a_token_the_server_rejects_is_redacted_from_its_answer(
    folder: Path, scripted: tuple[str, type[_Scripted]]
) -> None:
    url, handler = scripted
    token = "secret-token-abc123"
    handler.answers = [(403, {"detail": f"token {token} may not read DAGs"})]
    given = settings(folder, url, airflow_token=token) | {"airflow_password": None}
    with pytest.raises(DeployError) as caught:
        deploy_airflow.deploy(request_for(FLAGSHIP_TEXT, given))
    assert str(caught.value) == (
        f"reading DAG {DAG_ID}: Airflow refused (403 Forbidden: token *** may not read DAGs)"
    )
    assert handler.seen == [("GET", f"/api/v2/dags/{DAG_ID}", f"Bearer {token}")]


def test_5xx_answers_are_retried_then_the_plan_is_made(
    folder: Path, scripted: tuple[str, type[_Scripted]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy_airflow, "RETRY_SECONDS", 10.0)
    url, handler = scripted
    handler.answers = [
        (503, {"detail": "starting"}),
        (201, {"access_token": "jwt-from-login"}),
        (502, {"detail": "proxy"}),
        (404, {"detail": "Dag with id breast-cancer-classifier was not found"}),
    ]
    plan = deploy_airflow.deploy(request_for(FLAGSHIP_TEXT, settings(folder, url), dry_run=True))
    assert [s[:2] for s in handler.seen] == [
        ("POST", "/auth/token"),
        ("POST", "/auth/token"),
        ("GET", f"/api/v2/dags/{DAG_ID}"),
        ("GET", f"/api/v2/dags/{DAG_ID}"),
    ]
    assert handler.seen[-1][2] == "Bearer jwt-from-login"
    assert [a.verb for a in plan.actions] == ["create", "create", "create"]
    assert list(folder.iterdir()) == []  # a dry run writes nothing


def runtime_folder(dag: deploy_airflow.DagFile) -> str:
    """The runtime package's folder beside the DAG."""
    [runtime] = {a.path.partition("/")[0] for a in dag.beside if "mlspec_runtime_" in a.path}
    return runtime


def test_every_compiled_file_goes_into_the_dags_folder(folder: Path) -> None:
    request = request_for(FLAGSHIP_TEXT, settings(folder))
    dag = deploy_airflow.dag_file(request)
    runtime = folder / runtime_folder(dag)
    files = len(dag.beside)
    actions = deploy_airflow.plan_actions(dag, folder, _current(None, None), run=False)
    assert [f"{a.verb} {a.what}" for a in actions] == [
        f"create folder {runtime}/ ({files} files)",
        f"create dag file {folder / DAG_FILE}",
        f"create dag {DAG_ID}",
    ]
    offline = deploy_airflow.offline_plan(request)
    assert [a.what for a in offline.actions][:2] == [
        f"folder {runtime}/ ({files} files)",
        f"dag file {folder / DAG_FILE}",
    ]


def request_from(spec: Path, settings: dict[str, str | None]) -> Request:
    """A Request as `mlspec deploy SPEC` builds it: the step package beside SPEC is pinned."""
    pipeline = analyze_file(spec).pipeline
    artifacts = tuple(AirflowBackend().emit(pipeline))
    version = content_version(artifacts)
    return Request(str(spec), pipeline, artifacts, version, settings, echo=lambda line: None)


def flagship_copy(
    folder: Path, *, name: str = DAG_ID, spec_text: str = FLAGSHIP_TEXT, step_code: str = ""
) -> Path:
    """The flagship in `folder`, renamed, with `step_code` appended to its steps module."""
    shutil.copytree(FLAGSHIP, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = folder / "pipeline.yaml"
    spec.write_text(spec_text.replace(f"name: {DAG_ID}", f"name: {name}"))
    steps = folder / "breast_cancer" / "steps.py"
    steps.write_text(steps.read_text() + step_code)
    return spec


def write_deployed(folder: Path, dag: deploy_airflow.DagFile) -> None:
    for item in (*dag.beside, Artifact(dag.name, dag.text)):
        (folder / item.path).parent.mkdir(parents=True, exist_ok=True)
        (folder / item.path).write_text(item.text)


def code_folders(dag: deploy_airflow.DagFile) -> set[str]:
    return {a.path.partition("/")[0] for a in dag.beside if a.path.startswith("mlspec_code_")}


def test_the_step_package_is_one_folder_and_an_unused_old_one_is_deleted_after_the_dag(
    folder: Path, tmp_path: Path
) -> None:
    """Each version of the step package has a folder of its own: two DAGs at different
    versions share the dags folder; an update deletes the old version's folder only when no
    other DAG file names it, and only after the new DAG file is parsed."""
    edit = "\n# one more line of step code\n"
    old = deploy_airflow.dag_file(
        request_from(flagship_copy(tmp_path / "old", step_code=edit), settings(folder))
    )
    other = deploy_airflow.dag_file(
        request_from(
            flagship_copy(tmp_path / "other", name="other-classifier", step_code=edit),
            settings(folder),
        )
    )
    new = deploy_airflow.dag_file(request_from(SPEC, settings(folder)))
    [old_code], [new_code] = code_folders(old), code_folders(new)
    assert code_folders(other) == {old_code} != {new_code}
    write_deployed(folder, old)
    write_deployed(folder, other)
    runtime = runtime_folder(new)

    def plan() -> list[str]:
        text = (folder / DAG_FILE).read_text()
        unused = deploy_airflow.unused_folders(folder, new, text)
        current = deploy_airflow.Current(
            text, None, "", {a.path: _text_or_none(folder / a.path) for a in new.beside}, unused
        )
        actions = deploy_airflow.plan_actions(new, folder, current, run=False)
        return [f"{a.verb} {a.what}" for a in actions]

    kept = plan()  # other-classifier still runs the old version
    assert kept == [
        f"create folder {folder / new_code}/ (3 files)",
        f"unchanged folder {folder / runtime}/ ({len(new.beside) - 3} files)",
        f"update dag file {folder / DAG_FILE}",
        f"create dag {DAG_ID}",
    ]
    (folder / other.name).unlink()  # now only the old file names it
    assert plan() == [*kept, f"delete folder {folder / old_code}/"]
    offline = deploy_airflow.offline_plan(request_from(SPEC, settings(folder)))
    assert f"folder {folder / new_code}/ (3 files)" in [a.what for a in offline.actions]


def _text_or_none(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def test_a_failing_step_says_what_is_done_and_what_is_not_and_puts_files_back(
    folder: Path, scripted: tuple[str, type[_Scripted]]
) -> None:
    url, handler = scripted
    trace = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'x'"
    error = {
        "import_error_id": 1,
        "timestamp": "2026-01-01T00:00:00Z",
        "filename": DAG_FILE,
        "bundle_name": "dags-folder",
        "stack_trace": trace,
    }
    handler.answers = [
        (404, {"detail": "Dag with id breast-cancer-classifier was not found"}),
        (200, {"import_errors": [], "total_entries": 0}),  # before the write
        (200, {"import_errors": [error], "total_entries": 1}),  # after it: a new error
    ]
    given = settings(folder, url, airflow_token="tok") | {"airflow_password": None}
    request = request_for(FLAGSHIP_TEXT, given)
    dag = deploy_airflow.dag_file(request)
    with pytest.raises(DeployError) as caught:
        deploy_airflow.deploy(request)
    assert str(caught.value) == (
        f"Airflow could not import {DAG_FILE} ({request.version}):\n{trace}\n"
        f"The new file was removed from {folder}, so no DAG was created; Airflow drops its "
        "import error at its next scan of the folder.\n"
        f"  done before the failure: create folder {folder / runtime_folder(dag)}/ "
        f"({len(dag.beside)} files)\n"
        f"  not done: create dag file {folder / DAG_FILE}; create dag {DAG_ID}\n"
        f"  {deploy_airflow.AGAIN}"
    )
    assert list(folder.iterdir()) == []  # every file taken back: nothing broken is left


def test_a_rejected_dag_takes_its_step_package_folder_back_too(
    folder: Path, scripted: tuple[str, type[_Scripted]]
) -> None:
    """The package's folder has a subfolder (the package): both go, not only the files."""
    url, handler = scripted
    error = {
        "import_error_id": 1,
        "timestamp": "2026-01-01T00:00:00Z",
        "filename": DAG_FILE,
        "bundle_name": "dags-folder",
        "stack_trace": "Traceback (most recent call last):\nSyntaxError: x",
    }
    handler.answers = [
        (404, {"detail": "Dag with id breast-cancer-classifier was not found"}),
        (200, {"import_errors": [], "total_entries": 0}),
        (200, {"import_errors": [error], "total_entries": 1}),
    ]
    given = settings(folder, url, airflow_token="tok") | {"airflow_password": None}
    request = request_from(SPEC, given)
    assert code_folders(deploy_airflow.dag_file(request))  # the flagship carries its package
    with pytest.raises(DeployError, match="The new file was removed"):
        deploy_airflow.deploy(request)
    assert list(folder.iterdir()) == []


# ---- triggers (#20): a data trigger's watcher DAG is deployed beside the pipeline's -----------

CONSUMER = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: retrain-after, version: 1.0.0}}
triggers:
  - pipeline: {{name: breast-cancer-classifier, promoted: challenger}}
  - data: {{path: {landing}, every: 24h}}
steps:
  ingest:
    python: breast_cancer.steps:ingest
    image: python:3.11-slim
    inputs: {{test_fraction: {{value: 0.25}}, seed: {{value: 7}}}}
    outputs: {{train: dataset, test: dataset, reference: dataset}}
"""
CONSUMER_ID = "retrain-after"


def consumer_request(folder: Path, landing: str, dags: Path) -> Request:
    """The consumer beside a copy of the flagship (its trigger names it), watching `landing`."""
    spec = flagship_copy(folder).with_name("consumer.yaml")
    spec.write_text(CONSUMER.format(landing=landing))
    return request_from(spec, settings(dags))


def test_a_watcher_dag_is_deployed_after_the_pipelines_with_the_same_version(
    folder: Path, tmp_path: Path
) -> None:
    request = consumer_request(tmp_path / "specs", "/data/landing", folder)
    dag = deploy_airflow.dag_file(request)
    [watcher] = deploy_airflow.watcher_files(request)
    assert watcher.name.startswith("retrain_after__watch_") and watcher.name not in {
        a.path for a in dag.beside
    }  # not a file beside the DAG: a DAG of its own, parsed and checked like it
    assert (watcher.version, watcher.paused) == (request.version, False)
    assert deploy_airflow.deployed_version(watcher.text) == request.version
    [compiled] = [a for a in request.artifacts if a.path == watcher.name]
    assert watcher.text == deploy_airflow.with_version(compiled.text, request.version)
    offline = [f"{a.verb} {a.what}" for a in deploy_airflow.offline_plan(request).actions]
    assert offline[-4:] == [
        f"apply dag file {folder / dag.name}",
        f"apply dag {CONSUMER_ID}",
        f"apply dag file {folder / watcher.name}",
        f"apply dag {watcher.dag_id}",
    ]


def test_the_watcher_of_a_path_no_longer_watched_is_deleted_and_only_it(
    folder: Path, tmp_path: Path
) -> None:
    old = consumer_request(tmp_path / "old", "/data/old", folder)
    new = consumer_request(tmp_path / "new", "/data/new", folder)
    [retired] = deploy_airflow.watcher_files(old)
    [kept] = deploy_airflow.watcher_files(new)
    dag = deploy_airflow.dag_file(new)
    write_deployed(folder, retired)
    write_deployed(folder, kept)
    # A file of the user's with the same prefix, not deployed by mlspec, is left alone.
    (folder / "retrain_after__watch_0000abcd.py").write_text("# the user's own DAG\n")
    assert deploy_airflow.retired_watchers(folder, dag, (kept,)) == [retired.name]
    assert deploy_airflow.retired_watchers(folder, dag, (kept, retired)) == []


# ---- slow: a real Airflow 3.3.2 ---------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    dags: Path
    registry: str
    settings: dict[str, str | None]
    pids: tuple[int, ...]  # api-server, scheduler, dag-processor

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLSPEC_"))}
        env |= {
            "AIRFLOW_API_URL": self.url,
            "AIRFLOW_USERNAME": "admin",
            "AIRFLOW_PASSWORD": PASSWORD,
            "MLSPEC_AIRFLOW_DAGS_FOLDER": str(self.dags),
        }
        return env


def _server_env(home: Path, port: int, registry: str) -> dict[str, str]:
    env = airflow_env.base_env(home)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    url = f"http://127.0.0.1:{port}"
    env |= {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__SECRET_KEY": "mlspec-test-secret-key-" + "0" * 16,
        "AIRFLOW__API_AUTH__JWT_SECRET": "mlspec-test-jwt-secret-" + "0" * 32,
        # New files are found within a second or two; known files are re-parsed on request.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # What the flagship's tasks need on the workers (run_airflow sets the same for dag.test).
        # Not PYTHONPATH: the step package reaches them beside the DAG, placed by the deploy.
        "MLFLOW_TRACKING_URI": registry,
        "MLSPEC_ARTIFACT_ROOT": str(home / "artifacts"),
    }
    # Nothing of this checkout either (`uv run` puts its .venv/bin on PATH, the shell its PWD).
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if str(ROOT) not in p)
    return {k: v for k, v in env.items() if str(ROOT) not in v}


def _start(python: Path, home: Path, env: dict[str, str], *command: str) -> subprocess.Popen:
    log = (home / f"{command[0]}.log").open("w")
    argv = [str(python), "-m", "airflow", *command]
    print(f"starting: airflow {' '.join(command)} (log {log.name})")
    return subprocess.Popen(
        argv, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, SIGKILL what is left after 20 s."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group: LocalExecutor workers too
        process.wait()
        print(f"stopped: process group {process.pid} ({' '.join(process.args[3:4])})")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as answer:
            health = json.load(answer)
    except OSError:
        return False
    parts = ("metadatabase", "scheduler", "dag_processor")
    return all((health.get(p) or {}).get("status") == "healthy" for p in parts)


def _wait_healthy(url: str, home: Path, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 180
    while not _healthy(url):
        dead = [p for p in processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {log.name} ---\n{log.read_text()[-3000:]}" for log in home.glob("*.log")
            )
            raise AssertionError(f"Airflow did not become healthy at {url}\n{logs}")
        time.sleep(1)


@pytest.fixture(scope="module")
def airflow_server(
    tmp_path_factory: pytest.TempPathFactory, template_db: Path, migrated_airflow_db: Path
) -> Iterator[Server]:
    print("\nstarting: the Airflow 3.3.2 environment (tests/airflow/requirements.txt)")
    python = airflow_env.environment()
    home = tmp_path_factory.mktemp("airflow-server")
    (home / "dags").mkdir()
    shutil.copyfile(template_db, home / "registry.db")
    registry = f"sqlite:///{home / 'registry.db'}"
    # Two runs start at once (see the flagship's test): in an empty registered model the later
    # one would block (a version, but no champion yet). A weak champion gives both a comparison.
    weak = home / "weak-model"
    weak.write_text("a stand-in for an earlier, weak model\n")
    promote_after_gates(
        registry,
        DAG_ID,
        str(weak),
        alias="champion",
        rule_gates=[],
        gate_reports=[],
        run_id="seed",
        spec_name=DAG_ID,
        spec_version="0",
        metrics={"evaluate.auc": 0.5},
    )
    port = free_port()
    env = _server_env(home, port, registry)
    shutil.copyfile(migrated_airflow_db, home / "airflow.db")  # `airflow db migrate`'s result
    processes: list[subprocess.Popen] = []
    try:
        for command in (("api-server", "--port", str(port)), ("scheduler",), ("dag-processor",)):
            processes.append(_start(python, home, env, *command))
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, home, processes)
        print(f"Airflow is up at {url}")
        pids = tuple(p.pid for p in processes)
        yield Server(url, home, home / "dags", registry, settings(home / "dags", url), pids)
    finally:
        _stop(processes)


def deploy_cli(
    server: Server, *args: str, spec: Path = SPEC, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`mlspec deploy SPEC --target airflow ARGS` in a fresh process, settings from the env."""
    command = [sys.executable, "-m", "mlspec.cli", "deploy", str(spec), "-t", "airflow", *args]
    print(f"starting: mlspec deploy {spec.name} {' '.join(args)}")
    try:
        return subprocess.run(
            command, env=server.cli_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode() + (exc.stderr or b"").decode()
        pytest.fail(f"mlspec deploy did not finish within {timeout:g} s:\n{output[-6000:]}")


def api(server: Server) -> deploy_airflow.Api:
    """The module's own API wrapper, logged in: to look at what Airflow says."""
    request = Request("pipeline.yaml", None, (), "", server.settings)
    airflow = deploy_airflow.Api(deploy_airflow.settings_from(request))
    airflow.authenticate()
    return airflow


@pytest.mark.slow
def test_the_flagship_deploys_without_import_errors_and_its_run_succeeds(
    airflow_server: Server,
) -> None:
    """Issue #19's Airflow test: the step package reaches the workers only as `mlspec deploy`
    places it beside the DAG; the Airflow processes have no checkout on their path."""
    python = airflow_env.environment()
    for pid in airflow_server.pids:  # what the running processes really have
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        assert not [e for e in environ if e.startswith("PYTHONPATH=") or str(ROOT) in e]
        assert Path(f"/proc/{pid}/cwd").resolve() == airflow_server.home.resolve()
    env = _server_env(airflow_server.home, 0, airflow_server.registry)
    where = "import importlib.util; print(importlib.util.find_spec('breast_cancer'))"
    found = subprocess.run(
        [str(python), "-c", where], env=env, cwd=airflow_server.home, capture_output=True, text=True
    )
    assert found.stdout == "None\n", found.stderr  # only the placed copy can provide it
    started = time.monotonic()
    result = deploy_cli(airflow_server, "--run", "--wait")
    print(f"deploy --run --wait took {time.monotonic() - started:.0f} s")
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output
    version = deploy_airflow.deployed_version((airflow_server.dags / DAG_FILE).read_text())
    assert f"airflow: DAG {DAG_ID} parsed at {version}, no import errors" in output
    assert "airflow:   data_quality   PASSED" in output  # from the runtime's MLSPEC-GATE lines
    assert "airflow:   model_quality  PASSED" in output
    assert f"airflow: promoted  challenger: {DAG_ID} version " in output
    assert "succeeded" in output
    for task in ("ingest", "train", "evaluate", "data_quality", "model_quality"):
        assert f"airflow:   {task}: success" in output
    assert "airflow:   promote_challenger: success" in output
    assert PASSWORD not in output
    assert f"  create    dag file {airflow_server.dags / DAG_FILE} ({version})" in output
    [code] = code_folders(deploy_airflow.dag_file(request_from(SPEC, airflow_server.settings)))
    assert f"  create    folder {airflow_server.dags / code}/ (3 files)" in output
    # What Airflow says, through the API: the DAG at this version, no import errors, unpaused.
    airflow = api(airflow_server)
    dag = airflow.dag(DAG_ID)
    assert f"mlspec-version:{version}" in {t.name for t in dag.tags}
    assert dag.is_paused is False
    assert airflow.import_errors(DAG_FILE) == []
    assert f"Deployed by `mlspec deploy` as {version}." in airflow.docs(DAG_ID)
    # The run trained a model and promoted it: the registry has a challenger. (Unpausing the
    # weekly DAG also makes Airflow 3 start the most recent scheduled run at once, catchup=False
    # or not, which promotes a version too: so no particular version number is asserted.)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=airflow_server.registry)
    assert client.get_model_version_by_alias(DAG_ID, "challenger").version


@pytest.mark.slow
def test_a_second_deploy_of_the_same_spec_is_a_no_op(airflow_server: Server) -> None:
    path = airflow_server.dags / DAG_FILE
    before = path.stat().st_mtime_ns
    result = deploy_cli(airflow_server)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  nothing to change\n" in result.stdout
    assert f"  unchanged dag file {path}" in result.stdout
    assert "wrote" not in result.stdout
    assert path.stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_dry_run_shows_the_update_and_writes_nothing(
    airflow_server: Server, tmp_path: Path
) -> None:
    changed = tmp_path / "pipeline.yaml"
    changed.write_text(FLAGSHIP_TEXT.replace("default: 200", "default: 150"))
    path = airflow_server.dags / DAG_FILE
    before = path.read_bytes()
    result = deploy_cli(airflow_server, "--dry-run", spec=changed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"  update    dag file {path} (mlspec-" in result.stdout
    assert f"  update    dag {DAG_ID} (parse mlspec-" in result.stdout
    assert path.read_bytes() == before


@pytest.mark.slow
def test_an_import_error_is_shown_and_the_previous_file_is_put_back(
    airflow_server: Server,
) -> None:
    path = airflow_server.dags / DAG_FILE
    before = path.read_bytes()
    previous = deploy_airflow.deployed_version(before.decode())
    request = request_for(FLAGSHIP_TEXT, airflow_server.settings, edit=break_it)
    with pytest.raises(DeployError) as caught:
        deploy_airflow.deploy(request)
    message = str(caught.value)
    print(message)
    assert message.startswith(f"Airflow could not import {DAG_FILE} ({request.version}):")
    assert "ModuleNotFoundError: No module named 'mlspec_no_such_module_for_the_test'" in message
    assert f"The previous file ({previous}) is back in {airflow_server.dags}" in message
    assert "Airflow has re-parsed it" in message
    assert path.read_bytes() == before
    # No temporary left: the DAG file, the runtime and step packages the earlier deploy wrote.
    dag = deploy_airflow.dag_file(request)
    runtime = runtime_folder(dag)
    [code] = code_folders(deploy_airflow.dag_file(request_from(SPEC, airflow_server.settings)))
    found = sorted(p.name for p in airflow_server.dags.iterdir())
    assert found == sorted([DAG_FILE, runtime, code])
    in_runtime = sorted(p.name for p in (airflow_server.dags / runtime).iterdir())
    assert in_runtime == sorted(a.path.partition("/")[2] for a in dag.beside)
    airflow = api(airflow_server)
    assert airflow.import_errors(DAG_FILE) == []
    dag = airflow.dag(DAG_ID)
    assert f"mlspec-version:{previous}" in {t.name for t in dag.tags}
    assert not dag.has_import_errors


@pytest.mark.slow
def test_a_new_dag_with_an_import_error_is_rejected_and_removed(airflow_server: Server) -> None:
    request = request_for(
        FLAGSHIP_TEXT, airflow_server.settings, edit=break_it, name="broken-classifier"
    )
    with pytest.raises(DeployError) as caught:
        deploy_airflow.deploy(request)
    message = str(caught.value)
    print(message)
    assert message.startswith(f"Airflow could not import broken_classifier.py ({request.version})")
    assert "No module named 'mlspec_no_such_module_for_the_test'" in message
    assert "The new file was removed" in message
    # The flagship's files, deployed before, and nothing of the broken pipeline: its runtime
    # package is the flagship's (the same modules), there already and left alone.
    runtime = runtime_folder(deploy_airflow.dag_file(request))
    [code] = code_folders(deploy_airflow.dag_file(request_from(SPEC, airflow_server.settings)))
    found = sorted(p.name for p in airflow_server.dags.iterdir())
    assert found == sorted([DAG_FILE, runtime, code])
    assert api(airflow_server).dag("broken-classifier") is None


@pytest.mark.slow
def test_an_update_reaches_the_scheduler_and_a_quick_second_one_too(
    airflow_server: Server, tmp_path: Path
) -> None:
    """Airflow stores a changed serialized DAG at most every 30 s: the second deploy, seconds
    after the first, waits until the scheduler's copy is at its version too. Each carries
    another version of the step package: its folder replaces the other's."""
    text = FLAGSHIP_TEXT.replace("default: 200", "default: 150")
    changed = flagship_copy(tmp_path / "changed", spec_text=text, step_code="\n# changed\n")
    airflow = api(airflow_server)
    dags = airflow_server.dags
    codes = [
        code_folders(deploy_airflow.dag_file(request_from(spec, airflow_server.settings))).pop()
        for spec in (SPEC, changed)
    ]
    for spec, (old, new) in ((changed, codes), (SPEC, codes[::-1])):
        started = time.monotonic()
        result = deploy_cli(airflow_server, spec=spec)
        print(f"deploy of {spec} took {time.monotonic() - started:.0f} s")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"  update    dag file {dags / DAG_FILE} (mlspec-" in result.stdout
        assert f"  create    folder {dags / new}/ (3 files)" in result.stdout
        assert f"  delete    folder {dags / old}/ (no DAG uses it at mlspec-" in result.stdout
        assert (dags / new).is_dir() and not (dags / old).exists()
        version = deploy_airflow.deployed_version((airflow_server.dags / DAG_FILE).read_text())
        assert f"DAG {DAG_ID} parsed at {version}, no import errors" in result.stdout
        assert f"Deployed by `mlspec deploy` as {version}." in airflow.docs(DAG_ID)
        params = airflow.client.DAGApi(airflow.api).get_dag_details(DAG_ID).params
        assert params["n_estimators"]["value"] == (150 if spec == changed else 200)


@pytest.mark.slow
def test_a_wrong_password_fails_fast_with_the_servers_answer(airflow_server: Server) -> None:
    env = airflow_server.cli_env() | {"AIRFLOW_PASSWORD": "wrong-" + PASSWORD}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", "deploy", str(SPEC), "-t", "airflow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EXIT_REFUSED
    assert "Airflow refused the login of 'admin' (401: Invalid credentials)" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert time.monotonic() - started < 30


# ---- triggers (#20): the real scheduler starts runs from asset events -----------------------


def asset_runs(airflow: deploy_airflow.Api, dag_id: str) -> set[str]:
    """The ids of the DAG's runs that asset events started."""
    runs = airflow.client.DagRunApi(airflow.api).get_dag_runs(dag_id, limit=100).dag_runs
    return {r.dag_run_id for r in runs if getattr(r.run_type, "value", "") == "asset_triggered"}


def await_asset_run(
    airflow: deploy_airflow.Api, dag_id: str, before: set[str], uri: str, timeout: float = 240
) -> str:
    """The id of a new run of `dag_id` that the scheduler started from an event of `uri`,
    once it has ended (asserted successful)."""
    deadline = time.monotonic() + timeout
    api = airflow.client.DagRunApi(airflow.api)
    while time.monotonic() < deadline:
        runs = api.get_dag_runs(dag_id, limit=100).dag_runs
        # Asked about a run that has not started, Airflow 3.3 answers 500: the events name the
        # runs they created, and it cannot serialise one without a start date
        # (apache/airflow#71360). Only started runs are asked about.
        started = {r.dag_run_id for r in runs if r.start_date is not None}
        for run_id in sorted(asset_runs(airflow, dag_id) & started):
            events = api.get_upstream_asset_events(dag_id, run_id).asset_events
            if run_id in before or uri not in {e.uri for e in events}:
                continue
            state = deploy_airflow.follow(airflow, dag_id, run_id, print)
            assert state == "success", airflow.task_states(dag_id, run_id)
            return run_id
        time.sleep(2)
    runs = api.get_dag_runs(dag_id, limit=100).dag_runs
    seen = [(r.dag_run_id, r.run_type, r.state) for r in runs]
    raise AssertionError(f"no run of {dag_id} from an event of {uri} in {timeout:g} s: {seen}")


@pytest.mark.slow
def test_a_promotion_and_data_arrival_start_the_consumer_through_the_real_scheduler(
    airflow_server: Server, tmp_path: Path
) -> None:
    """Issue #20's Airflow test: the flagship's promotion and a file in a watched folder each
    start the consumer beside it, through asset events that the real scheduler acts on; a
    look at the folder that finds nothing new starts nothing."""
    started = time.monotonic()
    landing = tmp_path / "landing"
    landing.mkdir()
    producer = flagship_copy(tmp_path / "specs")
    consumer = producer.with_name("consumer.yaml")  # beside it: the trigger names it
    consumer.write_text(CONSUMER.format(landing=landing))
    result = deploy_cli(airflow_server, spec=consumer)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    [watcher] = deploy_airflow.watcher_files(request_from(consumer, airflow_server.settings))
    assert f"DAG {CONSUMER_ID} parsed at mlspec-" in output
    assert f"DAG {watcher.dag_id} parsed at mlspec-" in output
    airflow = api(airflow_server)
    assert airflow.import_errors(watcher.name) == []
    assert airflow.dag(watcher.dag_id).is_paused is False
    # The producer's run promotes: its promotion task's outlets start the consumer.
    before = asset_runs(airflow, CONSUMER_ID)
    result = deploy_cli(airflow_server, "--run", "--wait", spec=producer)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "airflow:   promote_challenger: success" in result.stdout
    promoted = f"mlspec://pipeline/{DAG_ID}/promoted/challenger"
    await_asset_run(airflow, CONSUMER_ID, before, promoted)
    # Data arrives: the watcher's run raises file://<landing>, which starts the consumer.
    (landing / "batch-1.csv").write_text("mean_radius,target\n14.1,0\n")
    before = asset_runs(airflow, CONSUMER_ID)
    look = f"mlspec__look1__{time.time_ns()}"
    airflow.trigger(watcher.dag_id, look)
    assert deploy_airflow.follow(airflow, watcher.dag_id, look, print) == "success"
    assert airflow.task_states(watcher.dag_id, look) == {"watch": "success"}
    data_run = await_asset_run(airflow, CONSUMER_ID, before, f"file://{landing}")
    # A second look finds nothing new: the task is skipped, no event, no consumer run.
    look = f"mlspec__look2__{time.time_ns()}"
    airflow.trigger(watcher.dag_id, look)
    assert deploy_airflow.follow(airflow, watcher.dag_id, look, print) == "success"
    assert airflow.task_states(watcher.dag_id, look) == {"watch": "skipped"}
    time.sleep(10)  # the scheduler's loop would have made a run by now (it takes ~1 s)
    assert asset_runs(airflow, CONSUMER_ID) == {*before, data_run}
    print(f"the trigger test took {time.monotonic() - started:.0f} s")


# ---- monitors (#20): the alarm starts the retraining through the real scheduler -------------


@pytest.mark.slow
def test_a_monitor_breach_starts_the_retraining_through_the_real_scheduler(
    airflow_server: Server, tmp_path: Path
) -> None:
    """Issue #20's Done-when on Airflow: a monitor fed drifted data raises its asset event, and
    the training DAG (the flagship, triggered by the monitor) is scheduled by it and runs; fed
    clean data, the alarm is skipped and nothing is triggered."""
    started = time.monotonic()
    served = tmp_path / "served"
    specs = monitoring.spec_folder(
        tmp_path / "specs",
        {
            "watch.yaml": monitoring.monitor_text(str(served)),
            "retrain.yaml": monitoring.retrain_text("drift-watch"),
        },
    )
    # The champion the monitor judges, with the data it learned from (mlspec.reference).
    version = monitoring.champion_trained_on(airflow_server.registry, tmp_path)
    result = deploy_cli(airflow_server, spec=specs / "retrain.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    airflow = api(airflow_server)
    assert airflow.dag(monitoring.RETRAIN).is_paused is False  # its trigger acts at once
    before = asset_runs(airflow, monitoring.RETRAIN)
    # Clean inputs: no breach, the alarm is skipped, no asset event.
    serving.served_inputs(served, drifted=False)
    result = deploy_cli(airflow_server, "--run", "--wait", spec=specs / "watch.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "airflow:   monitor: success" in output and "airflow:   alarm: skipped" in output
    # Drifted inputs: the alarm succeeds, its event starts the retraining.
    serving.served_inputs(served, drifted=True)
    result = deploy_cli(airflow_server, "--run", "--wait", spec=specs / "watch.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "airflow:   alarm: success" in output
    breach = "mlspec://monitor/drift-watch/breach"
    retrain = await_asset_run(airflow, monitoring.RETRAIN, before, breach)
    # The clean run started nothing: the one run is the breach's, long after the clean alarm.
    assert asset_runs(airflow, monitoring.RETRAIN) == {*before, retrain}
    from mlflow import MlflowClient

    tags = (
        MlflowClient(tracking_uri=airflow_server.registry).get_model_version(DAG_ID, version).tags
    )
    assert tags["mlspec.monitor.drift-watch"].startswith("breach (checks) in run ")
    print(f"the monitor loop test took {time.monotonic() - started:.0f} s")
