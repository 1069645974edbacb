"""`mlspec deploy --target prefect` against a real Prefect 3 server and process worker.

The slow tests start, once for the module, a Prefect server on 127.0.0.1 (a free port, its own
PREFECT_HOME and SQLite database under a temporary folder) and a process worker polling the
work pool `mlspec`. The worker does not create the pool: the first deploy does. Flow runs use a
SQLite MLflow registry copied from the migrated template and an artifact folder of the module.
Both processes run in process groups of their own, which teardown ends (also when a test
fails).

The fast tests need no Prefect server: the plan, version names, redaction, settings errors, a
stopped server, and a small stand-in HTTP server that answers what a failing server answers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.prefect_flagship import variant
from support.prefect_server import free_port, start, stop, with_process_worker

from mlspec import cli
from mlspec.backends.prefect import PrefectBackend
from mlspec.compiler import analyze_bytes
from mlspec.deploy.common import (
    DeployError,
    FileGroup,
    Request,
    content_version,
    file_groups,
    write_atomically,
)
from mlspec.deploy.prefect import api as prefect_api
from mlspec.deploy.prefect import plan as prefect_plan
from mlspec.deploy.prefect import settings as prefect_settings
from mlspec.deploy.prefect import wanted as prefect_wanted
from mlspec.run.local_registry import aliases
from mlspec.run.process import clean_env

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-cancer"
FLAGSHIP = EXAMPLE / "pipeline.yaml"
MODEL = NAME = "breast-cancer-classifier"
FULL_NAME = f"{NAME}/{NAME}"


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The flagship as a spec whose workers load the flow from the flow folder."""
    return variant(tmp_path_factory.mktemp("flagship"))


def request_for(spec: Path, flow_dir: Path) -> Request:
    """What the CLI hands the deploy: the spec compiled for Prefect, with its content version."""
    pipeline = analyze_bytes(spec.read_bytes(), str(spec)).pipeline
    artifacts = tuple(PrefectBackend().emit(pipeline))
    settings: dict[str, str | None] = {
        "prefect_api_url": "http://127.0.0.1:4200/api",
        "prefect_work_pool": None,
        "prefect_flow_dir": str(flow_dir),
    }
    return Request(str(spec), pipeline, artifacts, content_version(artifacts), settings)


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """`mlspec deploy` in this process (Click's runner), with no Prefect setting inherited."""
    base: dict[str, str | None] = {
        "PREFECT_API_URL": None,
        "MLSPEC_PREFECT_FLOW_DIR": None,
        "MLSPEC_PREFECT_WORK_POOL": None,
    }
    return CliRunner().invoke(cli.main, ["deploy", *args], env={**base, **(env or {})})


# -- fast: plan, versions, redaction, settings -------------------------------------------------


def test_plan_of_a_first_deploy_creates_everything_in_order(tmp_path: Path, flagship: Path) -> None:
    request = request_for(flagship, tmp_path)
    settings = prefect_settings.settings_from(request)
    [wanted] = prefect_wanted.wanted_from(request, settings)
    found = prefect_plan.Found("3.9.1", None, {NAME: None}, {FULL_NAME: None})
    plan, steps = prefect_plan.make_plan(request, settings, [wanted], found)
    folder = tmp_path / NAME / request.version
    runtime, code = runtime_group(request), code_group(request)
    assert plan.render() == (
        f"deploy to prefect at http://127.0.0.1:4200/api (server 3.9.1), "
        f"version {request.version}:\n"
        f"  create    flow file {folder}/breast_cancer_classifier.py\n"
        f"  create    flow {code.what(folder)}\n"
        f"  create    flow {runtime.what(folder)}\n"
        "  create    work pool mlspec (type process)\n"
        f"  create    flow {NAME}\n"
        f"  create    deployment {FULL_NAME} (version {request.version}, work pool mlspec, "
        "0 3 * * 1 Europe/Berlin)\n"
    )
    assert [step.brief for step in steps] == [
        f"create flow file {folder}/breast_cancer_classifier.py",
        f"create flow {code.what(folder)}",
        f"create flow {runtime.what(folder)}",
        "create work pool mlspec",
        f"create flow {NAME}",
        f"create deployment {FULL_NAME}",
    ]
    assert wanted.pull_steps == [{prefect_wanted.PULL_STEP: {"directory": str(folder)}}]
    assert wanted.parameters == {
        "n_estimators": 200,
        "max_depth": 6,
        "test_fraction": 0.25,
        "seed": 7,
        "min_auc": 0.95,
    }
    assert wanted.parameter_schema["properties"]["min_auc"]["type"] == "number"
    assert not any(tmp_path.iterdir())  # planning writes nothing


def runtime_group(request: Request) -> FileGroup:
    """The runtime package the flow loads: one folder of compiled files beside it."""
    [group] = [g for g in file_groups(request.artifacts) if g.path.startswith("mlspec_runtime_")]
    return group


def code_group(request: Request) -> FileGroup:
    """The pinned step package the flow's Python steps import: a folder beside it."""
    [group] = [g for g in file_groups(request.artifacts) if g.path.startswith("mlspec_code_")]
    return group


def test_every_compiled_file_but_prefect_yaml_goes_into_the_flow_folder(
    tmp_path: Path, flagship: Path
) -> None:
    """The files beside the flow (the step package and the runtime package it imports) are
    written next to it, in the version's folder, a step each; prefect.yaml and the rollout
    manifests are not."""
    request = request_for(flagship, tmp_path)
    settings = prefect_settings.settings_from(request)
    [wanted] = prefect_wanted.wanted_from(request, settings)
    found = prefect_plan.Found("3.9.1", None, {NAME: None}, {FULL_NAME: None})
    _, steps = prefect_plan.make_plan(request, settings, [wanted], found)
    folder = tmp_path / NAME / request.version
    assert [step.brief for step in steps][:4] == [
        f"create flow file {folder}/breast_cancer_classifier.py",
        f"create flow {code_group(request).what(folder)}",
        f"create flow {runtime_group(request).what(folder)}",
        "create work pool mlspec",
    ]


def test_prefect_yaml_is_read_as_prefect_reads_it(tmp_path: Path, flagship: Path) -> None:
    """`prefect deploy` reads prefect.yaml with PyYAML (YAML 1.1), so the deploy does too: in
    a hand-edited `seed: 1:30` Prefect sees 90, where a YAML 1.2 reader sees a string."""
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from rich.console import Console

    request = request_for(flagship, tmp_path)
    [original] = [a for a in request.artifacts if a.path == "prefect.yaml"]
    edited = replace(original, text=original.text.replace("seed: 7", "seed: 1:30"))
    request = replace(
        request, artifacts=tuple(edited if a is original else a for a in request.artifacts)
    )
    (tmp_path / "prefect.yaml").write_text(edited.text, encoding="utf-8")
    [config], _ = _load_deploy_configs_and_actions(tmp_path / "prefect.yaml", console=Console())
    [wanted] = prefect_wanted.wanted_from(request, prefect_settings.settings_from(request))
    assert wanted.parameters == config["parameters"]
    assert wanted.parameters["seed"] == 90


def _as_server_has_it(wanted: prefect_wanted.Wanted, **changes: object) -> types.SimpleNamespace:
    """A stand-in for the server's DeploymentResponse of `wanted`, with some fields changed."""
    fields = wanted.fields()
    schedules = [
        types.SimpleNamespace(
            schedule=types.SimpleNamespace(cron=s["cron"], timezone=s["timezone"]),
            active=s["active"],
        )
        for s in fields.pop("schedules")
    ]
    return types.SimpleNamespace(**{**fields, "schedules": schedules, "id": "d1", **changes})


def test_plan_says_unchanged_or_names_what_changed(tmp_path: Path, flagship: Path) -> None:
    request = request_for(flagship, tmp_path)
    settings = prefect_settings.settings_from(request)
    [wanted] = prefect_wanted.wanted_from(request, settings)
    same = _as_server_has_it(wanted)
    step = prefect_plan.deployment_step(wanted, same)
    assert str(step.action) == f"unchanged deployment {FULL_NAME} (version {request.version})"

    older = str(tmp_path / NAME / "mlspec-000000000000")
    paused = [types.SimpleNamespace(schedule=same.schedules[0].schedule, active=False)]
    drifted = _as_server_has_it(
        wanted,
        version="mlspec-000000000000",
        path=older,
        pull_steps=[{prefect_wanted.PULL_STEP: {"directory": older}}],
        schedules=paused,
        tags=["mlspec"],
    )
    step = prefect_plan.deployment_step(wanted, drifted)
    assert str(step.action) == (
        f"update    deployment {FULL_NAME} "
        f"(version mlspec-000000000000 -> {request.version}; tags, schedules)"
    )


def test_a_push_work_pool_is_refused_before_any_write(tmp_path: Path, flagship: Path) -> None:
    request = request_for(flagship, tmp_path)
    settings = prefect_settings.settings_from(request)
    pool = types.SimpleNamespace(type="ecs:push", is_paused=False)
    with pytest.raises(DeployError, match="type ecs:push, whose jobs cannot load the flow"):
        prefect_plan.pool_step(settings, pool)
    pool = types.SimpleNamespace(type="kubernetes", is_paused=True)
    step = prefect_plan.pool_step(settings, pool)
    assert str(step.action) == (
        f"unchanged work pool mlspec (type kubernetes; its jobs must see {tmp_path}; "
        "paused: its runs wait until it is resumed)"
    )


def test_versions_are_named_by_the_generated_files(tmp_path: Path, flagship: Path) -> None:
    first = request_for(flagship, tmp_path)
    again = request_for(flagship, tmp_path)
    changed = request_for(variant(tmp_path / "spec", min_auc="0.96"), tmp_path)
    assert re.fullmatch(r"mlspec-[0-9a-f]{12}", first.version)
    assert first.version == again.version
    assert changed.version != first.version
    settings = prefect_settings.settings_from(changed)
    [wanted] = prefect_wanted.wanted_from(changed, settings)
    assert wanted.version == changed.version
    assert wanted.folder == tmp_path / NAME / changed.version  # one folder per version


def test_urls_and_messages_never_show_credentials() -> None:
    shown = prefect_settings.shown_url
    assert shown("https://ci:tok3n-x@prefect.example.com/api") == (
        "https://***@prefect.example.com/api"
    )
    assert shown("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200/api"
    settings = prefect_settings.Settings("https://ci:tok3n-x@h/api", "mlspec", Path("/f"))
    assert {"tok3n-x", "ci:tok3n-x"} <= set(settings.secrets)


def test_write_atomically_leaves_one_readable_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "flow.py"
    write_atomically(target, "one\n")
    write_atomically(target, "two\n")
    assert target.read_text() == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["flow.py"]
    assert target.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "needs the API URL: pass --prefect-api-url or set PREFECT_API_URL"),
        (("--prefect-api-url", "ftp://h/api"), "is not an http(s) URL"),
        (("--prefect-api-url", "http://127.0.0.1:9/api"), "needs the folder the workers load"),
        (
            ("--prefect-api-url", "http://127.0.0.1:9/api", "--prefect-flow-dir", "/nonexistent"),
            "the Prefect flow folder /nonexistent does not exist",
        ),
    ],
)
def test_missing_settings_are_usage_errors(
    args: tuple[str, ...], message: str, flagship: Path
) -> None:
    result = invoke(str(flagship), "--target", "prefect", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_stopped_server_fails_within_seconds_and_writes_nothing(
    tmp_path: Path, flagship: Path
) -> None:
    url = f"http://ci:s3cret-pw@127.0.0.1:{free_port()}/api"  # nothing listens there
    print(f"\ndeploying to {prefect_settings.shown_url(url)}, where nothing listens")
    started = time.monotonic()
    result = invoke(
        str(flagship),
        "-t",
        "prefect",
        "--prefect-api-url",
        url,
        "--prefect-flow-dir",
        str(tmp_path),
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert "the connection was refused (ConnectError: [Errno 111] Connection refused;" in (
        result.output
    )
    assert "Nothing was changed" in result.output
    assert "s3cret-pw" not in result.output
    assert elapsed < 15  # a few seconds of retries, plus compiling and importing
    assert not any(tmp_path.iterdir())


# -- fast: a stand-in server that answers what a failing Prefect server answers ---------------


@dataclass
class StandIn:
    url: str
    routes: dict[tuple[str, str], tuple[int, object]]
    seen: list[tuple[str, str]]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """An HTTP server in a thread; unknown routes answer 404 like Prefect's API does."""
    routes: dict[tuple[str, str], tuple[int, object]] = {}
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            path = self.path.split("?")[0]
            seen.append((self.command, path))
            status, body = routes.get((self.command, path), (404, {"detail": "Not Found"}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"\nstarted: a stand-in HTTP server on 127.0.0.1:{server.server_port} (a thread)")
    try:
        yield StandIn(f"http://127.0.0.1:{server.server_port}/api", routes, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_auth_errors_fail_fast_with_the_servers_answer(
    stand_in: StandIn, tmp_path: Path, flagship: Path
) -> None:
    stand_in.routes[("GET", "/api/admin/version")] = (401, {"detail": "bad token s3cret-pw"})
    url = stand_in.url.replace("http://", "http://ci:s3cret-pw@")
    started = time.monotonic()
    result = invoke(
        str(flagship),
        "-t",
        "prefect",
        "--prefect-api-url",
        url,
        "--prefect-flow-dir",
        str(tmp_path),
    )
    assert result.exit_code == 3, result.output
    assert "the server answered 401 Unauthorized: bad token ***" in result.output
    assert "check PREFECT_API_KEY" in result.output
    assert "s3cret-pw" not in result.output
    assert stand_in.seen == [("GET", "/api/admin/version")]  # not retried
    assert time.monotonic() - started < 10


def test_server_errors_are_retried_within_the_bound(
    stand_in: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flagship: Path
) -> None:
    # Prefect's client itself waits ~2 s after a 503 even with its retries off, so an attempt
    # takes that long: the bound allows two.
    monkeypatch.setattr(prefect_api, "RETRY_SECONDS", 3.0)
    stand_in.routes[("GET", "/api/admin/version")] = (503, {"detail": "restarting"})
    result = invoke(
        str(flagship), "-t", "prefect", "--prefect-api-url", stand_in.url,
        "--prefect-flow-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "did not answer within 3 s (503 Service Unavailable: restarting)" in result.output
    assert len(stand_in.seen) >= 2
    assert not any(tmp_path.iterdir())


def test_a_refused_write_says_what_is_done_and_what_is_not(
    stand_in: StandIn, tmp_path: Path, flagship: Path
) -> None:
    pool = {"id": "2a8ba9d4-47a4-4bd7-9d0d-9a6c1bdcd0b8", "name": "mlspec", "type": "process"}
    stand_in.routes.update(
        {
            ("GET", "/api/admin/version"): (200, "3.9.1"),
            ("POST", "/api/work_pools/"): (201, pool),
            ("POST", "/api/flows/"): (201, {"id": "0b1c4c39-5b6a-4d0b-a4a6-6f3c8e3f0a11"}),
            ("POST", "/api/deployments/"): (
                422,
                {
                    "exception_message": "Invalid request received.",
                    "exception_detail": [
                        {"loc": ["body", "job_variables", "env"], "msg": "not allowed"}
                    ],
                },
            ),
        }
    )
    result = invoke(
        str(flagship), "-t", "prefect", "--prefect-api-url", stand_in.url,
        "--prefect-flow-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    request = request_for(flagship, tmp_path)
    flow_file = tmp_path / NAME / request.version / "breast_cancer_classifier.py"
    runtime = runtime_group(request).what(flow_file.parent)
    code = code_group(request).what(flow_file.parent)
    # The spec's warnings (MS302: the flagship's Python steps) come first.
    assert result.output[result.output.index("deploy failed: ") :] == (
        f"deploy failed: writing deployment {FULL_NAME}: the server answered "
        "422 Unprocessable Entity: body.job_variables.env: not allowed\n"
        f"  done before the failure: create flow file {flow_file}; create flow {code}; "
        f"create flow {runtime}; "
        "create work pool mlspec; "
        f"create flow {NAME}\n"
        f"  not done: create deployment {FULL_NAME}\n"
        "  deploying again finishes the job (what is done shows as unchanged)\n"
    )
    assert [seen for seen in stand_in.seen if seen[0] == "POST"] == [
        ("POST", "/api/work_pools/"),
        ("POST", "/api/flows/"),
        ("POST", "/api/deployments/"),
    ]


# -- slow: a real Prefect server and process worker --------------------------------------------


@dataclass
class Prefect:
    url: str
    home: Path
    flow_dir: Path
    registry_uri: str
    worker_log: Path

    def client(self):  # type: ignore[no-untyped-def]
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.url}):
            return get_client(sync_client=True)

    def deployment(self):  # type: ignore[no-untyped-def]
        from prefect.exceptions import ObjectNotFound

        with self.client() as client:
            try:
                return client.read_deployment_by_name(FULL_NAME)
            except ObjectNotFound:
                return None

    def flow_runs(self) -> int:
        with self.client() as client:
            return len(client.read_flow_runs())

    def pools(self) -> dict[str, str]:
        with self.client() as client:
            return {pool.name: pool.type for pool in client.read_work_pools()}


@pytest.fixture(scope="module")
def prefect(
    tmp_path_factory: pytest.TempPathFactory,
    template_db: Path,
    create_model: Callable[[str, str], None],
) -> Iterator[Prefect]:
    """A Prefect server and a process worker for the module; both stopped at its end."""
    base = tmp_path_factory.mktemp("prefect")
    home, flow_dir, artifacts = base / "home", base / "flows", base / "artifacts"
    for folder in (home, flow_dir, artifacts):
        folder.mkdir()
    shutil.copyfile(template_db, base / "registry.db")
    registry_uri = f"sqlite:///{base / 'registry.db'}"
    create_model(registry_uri, MODEL)  # for the first run
    with with_process_worker(
        base,
        "mlspec",
        MLFLOW_TRACKING_URI=registry_uri,
        MLSPEC_ARTIFACT_ROOT=str(artifacts),
        PYTHONPATH=str(EXAMPLE),
    ) as (url, worker_log):
        yield Prefect(url, home, flow_dir, registry_uri, worker_log)


def deploy_in_process(prefect: Prefect, spec: Path, *args: str) -> Result:
    return invoke(
        str(spec), "-t", "prefect", "--prefect-api-url", prefect.url,
        "--prefect-flow-dir", str(prefect.flow_dir), *args,
    )  # fmt: skip


def deploy_and_wait(prefect: Prefect, spec: Path) -> tuple[int, str]:
    """`mlspec deploy --run --wait` as CI runs it: a subprocess, bounded in time."""
    command = [sys.executable, "-m", "mlspec.cli", "deploy", str(spec), "-t", "prefect"]
    command += ["--run", "--wait"]
    env = clean_env(
        PREFECT_HOME=str(prefect.home.parent / "cli-home"),
        PREFECT_API_URL=prefect.url,
        MLSPEC_PREFECT_FLOW_DIR=str(prefect.flow_dir),
    )
    print(f"\nrunning: mlspec deploy {spec} -t prefect --run --wait")
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    print(output)
    return done.returncode, output


@pytest.fixture(scope="module")
def first_deploy(prefect: Prefect, flagship: Path) -> Result:
    """The module's first deploy of the flagship: everything is created."""
    return deploy_in_process(prefect, flagship)


@pytest.mark.slow
def test_a_first_deploy_creates_pool_flow_file_and_deployment(
    prefect: Prefect, first_deploy: Result, flagship: Path
) -> None:
    assert first_deploy.exit_code == 0, first_deploy.output
    request = request_for(flagship, prefect.flow_dir)
    version = request.version
    folder = prefect.flow_dir / NAME / version
    runtime = runtime_group(request)
    assert first_deploy.stdout.splitlines()[1:] == [  # the spec's warnings: stderr
        f"  create    flow file {folder}/breast_cancer_classifier.py",
        f"  create    flow {code_group(request).what(folder)}",
        f"  create    flow {runtime.what(folder)}",
        "  create    work pool mlspec (type process)",
        f"  create    flow {NAME}",
        f"  create    deployment {FULL_NAME} (version {version}, work pool mlspec, "
        "0 3 * * 1 Europe/Berlin)",
    ]
    assert prefect.pools()["mlspec"] == "process"
    deployment = prefect.deployment()
    assert deployment.version == version
    assert deployment.entrypoint == "breast_cancer_classifier.py:breast_cancer_classifier_flow"
    assert deployment.pull_steps == [{prefect_wanted.PULL_STEP: {"directory": str(folder)}}]
    assert deployment.parameters["min_auc"] == 0.95
    assert deployment.enforce_parameter_schema
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (
        "0 3 * * 1",
        "Europe/Berlin",
        True,
    )
    assert (folder / "breast_cancer_classifier.py").is_file()
    assert all((folder / a.path).is_file() for a in runtime.files)


@pytest.mark.slow
def test_deploy_run_wait_completes_with_its_gate_verdicts(
    prefect: Prefect, first_deploy: Result, flagship: Path
) -> None:
    code, output = deploy_and_wait(prefect, flagship)
    assert code == 0, output + prefect.worker_log.read_text()[-4000:]
    assert f"unchanged deployment {FULL_NAME}" in output
    assert re.search(r"flow run [\w-]+: Running", output)
    assert "  task train: Completed" in output
    assert re.search(r"flow run [\w-]+: Completed\n", output)
    assert "  data_quality   PASSED\n  model_quality  PASSED\n" in output
    assert f"promoted  challenger: {MODEL} version 1" in output
    assert re.search(r"create    flow run [\w-]+ \(Completed\)", output)
    assert aliases(prefect.registry_uri, MODEL) == {"challenger": "1"}


@pytest.mark.slow
def test_a_second_deploy_changes_nothing(
    prefect: Prefect, first_deploy: Result, flagship: Path
) -> None:
    deploy_in_process(prefect, flagship)  # the flagship, whatever ran before
    before, runs = prefect.deployment(), prefect.flow_runs()
    result = deploy_in_process(prefect, flagship)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[1:6]] == ["unchanged"] * 5
    assert result.stdout.endswith("  nothing to change\n")
    after = prefect.deployment()
    assert (after.updated, after.version) == (before.updated, before.version)
    assert prefect.flow_runs() == runs


@pytest.mark.slow
def test_a_dry_run_against_the_live_server_writes_nothing(
    prefect: Prefect, first_deploy: Result, tmp_path: Path
) -> None:
    spec = variant(tmp_path, min_auc="0.97")
    version = request_for(spec, prefect.flow_dir).version
    before, pools = prefect.deployment(), prefect.pools()
    files = sorted(prefect.flow_dir.rglob("*"))
    result = deploy_in_process(prefect, spec, "--dry-run", "--prefect-work-pool", "dry-pool")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("dry run: nothing was changed")
    assert f"  create    flow file {prefect.flow_dir / NAME / version}/" in result.output
    assert "  create    work pool dry-pool (type process)" in result.output
    assert re.search(
        rf"  update    deployment {FULL_NAME} \(version mlspec-\w+ -> {version}; "
        r"work pool name, parameters, parameter openapi schema\)",
        result.output,
    )
    after = prefect.deployment()
    assert (after.updated, after.version) == (before.updated, before.version)
    assert prefect.pools() == pools
    assert sorted(prefect.flow_dir.rglob("*")) == files


@pytest.mark.slow
def test_a_changed_spec_updates_the_deployment_and_its_run_can_block(
    prefect: Prefect, first_deploy: Result, tmp_path: Path
) -> None:
    spec = variant(tmp_path, min_auc="0.999")
    registry_before = aliases(prefect.registry_uri, MODEL)
    code, output = deploy_and_wait(prefect, spec)
    assert code == 0, output + prefect.worker_log.read_text()[-4000:]
    assert re.search(rf"update    deployment {FULL_NAME} \(version mlspec-\w+ -> ", output)
    assert "Completed(GateBlocked): blocked by model_quality; not run: promote_challenger" in output
    # (and, after an earlier test's run promoted a challenger, the champion comparison too)
    assert "  model_quality  BLOCKED: metric evaluate.auc" in output
    assert "promoted  nothing" in output
    assert prefect.deployment().parameters["min_auc"] == 0.999
    assert aliases(prefect.registry_uri, MODEL) == registry_before


@pytest.mark.slow
def test_a_failed_run_exits_3_and_says_which_task_failed(
    prefect: Prefect, first_deploy: Result, tmp_path: Path
) -> None:
    spec = variant(tmp_path, test_fraction="1.5")  # train_test_split refuses it
    text = spec.read_text().replace("  retries: 1\n", "  retries: 0\n")
    spec.write_text(text)
    code, output = deploy_and_wait(prefect, spec)
    assert code == 3, output
    assert re.search(r"deploy failed: the flow run [\w-]+ \([\w-]+\) ended Failed", output)
    assert "task ingest ended Failed: " in output
    assert "test_size" in output
    assert f"the deployment {FULL_NAME} version mlspec-" in output


# -- code.git: the workers clone the pinned commit ---------------------------------------------

COMPILED = "examples/breast-cancer/build/prefect"  # code.git.path of the flagship


@dataclass
class Pinned:
    """A local repository holding the flagship, its step package and its compiled Prefect
    folder, with the spec in the work tree pinning the commit that holds that folder."""

    repo: Path
    spec: Path
    commit: str

    @property
    def compiled(self) -> Path:
        return self.repo / COMPILED


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def compile_into(spec: Path, out: Path) -> None:
    result = CliRunner().invoke(cli.main, ["compile", str(spec), "-t", "prefect", "-o", str(out)])
    assert result.exit_code == 0, result.output


def pin(spec: Path, url: str, commit: str) -> None:
    text, count = re.subn(r"(?m)^(      url: ).*$", rf"\g<1>{url}", spec.read_text())
    text, more = re.subn(r"(?m)^(      commit: ).*$", rf"\g<1>'{commit}'", text)
    assert count == more == 1
    spec.write_text(text)


# Appended to the step package of a run that must say where its code was imported from.
RECORDER = """
import os as _os

with open(_os.environ["MLSPEC_TEST_IMPORTED_FROM"], "a", encoding="utf-8") as _record:
    _record.write(__file__ + "\\n")
"""


def pinned_repository(base: Path, *, record: bool = False) -> Pinned:
    """Compile once (any commit), commit spec, package and compiled folder, pin that commit
    in the spec, compile again: only the spec and prefect.yaml change (prefect.yaml names the
    commit; the flow and the code the workers load are the committed ones)."""
    repo = base / "ml-pipelines"
    example = repo / "examples" / "breast-cancer"
    example.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shutil.copyfile(FLAGSHIP, example / "pipeline.yaml")
    package = shutil.ignore_patterns("__pycache__")
    shutil.copytree(EXAMPLE / "breast_cancer", example / "breast_cancer", ignore=package)
    if record:
        with (example / "breast_cancer" / "__init__.py").open("a") as init:
            init.write(RECORDER)
    spec = example / "pipeline.yaml"
    pin(spec, f"file://{repo}", "0" * 40)
    compile_into(spec, repo / COMPILED)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the flagship and its compiled Prefect folder")
    commit = git(repo, "rev-parse", "HEAD")
    pin(spec, f"file://{repo}", commit)
    compile_into(spec, repo / COMPILED)
    assert git(repo, "status", "--porcelain", "--untracked-files=all").splitlines() == [
        f"M {COMPILED}/prefect.yaml",  # (git() strips the first line's leading space)
        " M examples/breast-cancer/pipeline.yaml",
    ]
    return Pinned(repo, spec, commit)


def test_a_commit_holding_the_compiled_flow_passes_the_check(tmp_path: Path) -> None:
    from mlspec.backends.prefect.delivery import git_source
    from mlspec.deploy.prefect import commit

    pinned = pinned_repository(tmp_path)
    request = request_for(pinned.spec, tmp_path)
    source = git_source(request.pipeline)  # type: ignore[arg-type]
    assert source is not None and source.commit == pinned.commit
    said: list[str] = []
    files = prefect_wanted.worker_files(request.artifacts)
    commit.check(source, files, pinned.spec, said.append)
    assert said == [
        f"commit {pinned.commit[:12]} holds the compiled flow (14 files in {COMPILED}/)"
    ]
    # A flow folder is neither needed nor written: the deployment's pull steps clone it.
    settings = prefect_settings.settings_from(replace(request, settings={
        "prefect_api_url": "http://127.0.0.1:4200/api", "prefect_flow_dir": None,
        "prefect_work_pool": None,
    }))  # fmt: skip
    [wanted] = prefect_wanted.wanted_from(request, settings)
    assert (settings.flow_dir, wanted.path, wanted.files) == (None, None, ())
    assert wanted.pull_steps[0]["prefect.deployments.steps.git_clone"]["commit_sha"] == (
        pinned.commit
    )


def test_a_commit_without_the_compiled_flow_is_refused_before_any_remote_call(
    tmp_path: Path,
) -> None:
    """One changed line of step code: the compile pins another package digest, which the
    commit does not hold; the deploy stops before reaching the (absent) server."""
    pinned = pinned_repository(tmp_path)
    steps = pinned.spec.parent / "breast_cancer" / "steps.py"
    steps.write_text(steps.read_text() + "\n# reviewed later\n")
    result = invoke(
        str(pinned.spec), "-t", "prefect", "--prefect-api-url", "http://127.0.0.1:9/api"
    )
    assert result.exit_code == 3, result.output
    message = result.output[result.output.index("deploy failed: ") :]
    assert message.startswith(
        f"deploy failed: commit {pinned.commit[:12]} of file://{pinned.repo} does not hold the "
        "flow compiled here: breast_cancer_classifier.py, mlspec_code_"
    )
    assert "Nothing was changed" in message and "reaching" not in message


def test_a_commit_the_repository_lacks_is_refused(tmp_path: Path) -> None:
    pinned = pinned_repository(tmp_path)
    pin(pinned.spec, f"file://{pinned.repo}", "f" * 40)
    result = invoke(
        str(pinned.spec), "-t", "prefect", "--prefect-api-url", "http://127.0.0.1:9/api"
    )
    assert result.exit_code == 3, result.output
    assert f"has no commit {'f' * 40}: the workers could not clone it" in result.output


def test_a_remote_repository_is_not_checked_and_says_so(tmp_path: Path) -> None:
    from mlspec.backends.prefect.delivery import git_source
    from mlspec.deploy.prefect import commit

    shutil.copyfile(FLAGSHIP, tmp_path / "pipeline.yaml")
    request = request_for(tmp_path / "pipeline.yaml", tmp_path)
    source = git_source(request.pipeline)  # type: ignore[arg-type]
    assert source is not None
    said: list[str] = []
    commit.check(source, request.artifacts, tmp_path / "pipeline.yaml", said.append)
    assert said == [
        f"note: commit {source.commit[:12]} not compared with the compiled files: "
        "https://github.com/acme/ml-pipelines.git is remote and this work tree does not hold it"
    ]


@pytest.mark.slow
def test_a_worker_elsewhere_runs_the_flow_cloned_at_the_pinned_commit(
    prefect: Prefect,
    tmp_path: Path,
    template_db: Path,
    create_model: Callable[[str, str], None],
) -> None:
    """The done-when test of code delivery for Prefect: a process worker whose working folder
    is neither the repository nor the compiled folder, without the repository on PYTHONPATH,
    runs the flagship from the clone its pull steps make of the local repository at the
    pinned commit; the gates pass and the challenger is promoted."""
    started = time.monotonic()
    pinned = pinned_repository(tmp_path, record=True)
    # The step package says where it was imported from: the worker's clone, nowhere else.
    imported_from = tmp_path / "imported-from.txt"
    [package] = [p.name for p in pinned.compiled.glob("mlspec_code_*")]
    worker_cwd, worker_tmp, artifacts = (tmp_path / n for n in ("cwd", "tmp", "artifacts"))
    for folder in (worker_cwd, worker_tmp, artifacts):
        folder.mkdir()
    shutil.copyfile(template_db, tmp_path / "registry.db")
    registry_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    create_model(registry_uri, MODEL)
    pool = "mlspec-git"
    worker_env = clean_env(
        PREFECT_HOME=str(tmp_path / "worker-home"),
        PREFECT_API_URL=prefect.url,
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_WORKER_HEARTBEAT_SECONDS="5",
        MLFLOW_TRACKING_URI=registry_uri,
        MLSPEC_ARTIFACT_ROOT=str(artifacts),
        MLSPEC_TEST_IMPORTED_FROM=str(imported_from),
        TMPDIR=str(worker_tmp),  # the process worker runs each flow in a folder under it
    )
    assert "PYTHONPATH" not in worker_env
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    command += ["--type", "process", "--no-create-pool-if-not-found"]
    worker = start(command, worker_env, tmp_path / "worker.log", "Prefect worker", cwd=worker_cwd)
    try:
        deploy = [sys.executable, "-m", "mlspec.cli", "deploy", str(pinned.spec), "-t", "prefect"]
        deploy += ["--prefect-work-pool", pool, "--run", "--wait"]
        env = clean_env(PREFECT_HOME=str(tmp_path / "cli-home"), PREFECT_API_URL=prefect.url)
        done = subprocess.run(
            deploy, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        stop(worker, "Prefect worker")
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode == 0, output + (tmp_path / "worker.log").read_text()[-4000:]
    assert f"commit {pinned.commit[:12]} holds the compiled flow" in output
    assert "  data_quality   PASSED\n  model_quality  PASSED\n" in output
    assert f"promoted  challenger: {MODEL} version 1" in output
    assert aliases(registry_uri, MODEL) == {"challenger": "1"}
    [where] = set(imported_from.read_text().splitlines())
    clone = f"/ml-pipelines/{COMPILED}/{package}/breast_cancer/__init__.py"
    assert where.startswith(f"{worker_tmp}/") and where.endswith(clone), where
    print(f"\ncode.git deploy, run and promotion: {time.monotonic() - started:.1f} s")
