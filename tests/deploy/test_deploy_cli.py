"""What `mlspec deploy` does alike on every target: usage errors, the offline plan, `--timeout`,
and a server that is down. No orchestrator runs here: a small HTTP server in a thread on
127.0.0.1 records what reaches it (or answers 503 to everything), and a closed port stands for a
stopped server.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.published import publish_flagship

from mlspec.backends.registry import deployable, get
from mlspec.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path()  # set by _published: the flagship, its wheel published


@pytest.fixture(scope="module", autouse=True)
def _published(tmp_path_factory: pytest.TempPathFactory) -> None:
    global SPEC
    SPEC = publish_flagship(tmp_path_factory.mktemp("flagship") / "bc")


TARGETS = deployable()
TOKEN = "deploy-test-token-5e1f"
# Every setting any target reads from the environment: none is inherited from the machine.
ENVIRONMENT = [s.env for name in TARGETS for s in get(name).load_deployer().SETTINGS]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    from kfp.client import client  # no kfp context file of the machine

    monkeypatch.setattr(client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))


def closed_port() -> int:
    """A port nothing listens on: bound, then closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Stub:
    url: str
    status: int
    seen: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def stub(status: int = 503) -> Iterator[Stub]:
    """A server on 127.0.0.1 that answers `status` to every request and records each."""
    state = Stub("", status)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.seen.append((self.command, self.path))
            body = json.dumps({"detail": "restarting"}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    print(f"\nstarted: a stub HTTP server answering {status} on {state.url} (a thread)")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def settings(target: str, url: str, folder: Path) -> list[str]:
    """Complete connection settings for `target`, its server at `url`."""
    folder.mkdir(exist_ok=True)
    return {
        "prefect": ["--prefect-api-url", f"{url}/api", "--prefect-flow-dir", str(folder)],
        "airflow": ["--airflow-url", url, "--airflow-token", TOKEN],
        "kubeflow": ["--kfp-host", url, "--kfp-token", TOKEN],
    }[target] + (["--airflow-dags-folder", str(folder)] if target == "airflow" else [])


def deploy(target: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["deploy", str(SPEC), "--target", target, *args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize(
    ("target", "flag"),
    [("prefect", "--prefect-api-url"), ("airflow", "--airflow-url"), ("kubeflow", "--kfp-host")],
)
def test_a_missing_server_is_a_usage_error_on_every_target(target: str, flag: str) -> None:
    result = deploy(target)
    assert result.exit_code == 2, result.output
    assert flag in result.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_an_offline_plan_needs_no_settings_and_contacts_nothing(
    target: str, tmp_path: Path
) -> None:
    with stub(status=200) as server:
        given = deploy(target, "--dry-run", "--offline", *settings(target, server.url, tmp_path))
        bare = deploy(target, "--dry-run", "--offline", "--format", "json")
    assert given.exit_code == 0, given.output
    assert server.seen == []
    assert list(tmp_path.glob("*/*")) == []  # nothing written into the flow or dags folder
    lines = given.stdout.splitlines()  # the plan, after any note (kubeflow's on time zones)
    start = next(i for i, line in enumerate(lines) if line.startswith("deploy to "))
    head, *actions = lines[start:]
    assert head.startswith(f"deploy to {target} at {server.url}")
    assert "(offline: planned from the compiled files; the server was not asked)" in head
    assert any(line.lstrip().startswith("apply ") for line in actions)

    assert bare.exit_code == 0, bare.output
    plan = json.loads(bare.stdout)  # stdout holds only the JSON plan
    assert (plan["target"], plan["offline"], plan["dry_run"]) == (target, True, True)
    assert plan["version"] in head
    verbs = {a["verb"] for a in plan["actions"]}
    assert "apply" in verbs and verbs <= {"apply", "unchanged", "delete"}  # nothing known
    assert {a["what"].split(" ")[0] for a in plan["actions"]} >= {
        "prefect": {"flow", "work", "deployment"},
        "airflow": {"dag"},
        "kubeflow": {"pipeline", "experiment", "recurring"},
    }[target]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--offline",), "--offline plans without changing anything: add --dry-run"),
        (("--dry-run", "--offline", "--run"), "--run needs the server: drop --offline"),
        (("--timeout", "0"), "is not in the range x>0"),
    ],
)
def test_offline_and_timeout_misuse_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = deploy("kubeflow", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_a_refused_connection_fails_within_seconds_and_says_each_retry(
    target: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = deploy(target, *settings(target, url, tmp_path))
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert elapsed < 15  # not the 60 s a restarting server gets
    retries = [line for line in result.stderr.splitlines() if "failed: " in line]
    assert retries and "Connection refused (attempt 1 of " in retries[0]
    assert retries[0].endswith("; next in 0.5 s)")
    assert "the connection was refused" in result.stderr
    assert "check that the server is running and that this is its address" in result.stderr
    assert TOKEN not in result.output
    assert list(tmp_path.glob("*/*")) == []


@pytest.mark.parametrize("target", TARGETS)
def test_timeout_bounds_the_retries_of_a_server_that_keeps_failing(
    target: str, tmp_path: Path
) -> None:
    with stub(status=503) as server:
        started = time.monotonic()
        result = deploy(target, "--timeout", "3", *settings(target, server.url, tmp_path))
        elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert elapsed < 3 + 15  # the bound, plus compiling and one request's own wait
    assert len(server.seen) >= 2
    assert "stopped waiting after --timeout 3 s (" in result.stderr
    assert "(attempt 1 of " in result.stderr
    assert list(tmp_path.glob("*/*")) == []


def test_retry_gives_a_refused_connection_seconds_and_a_failing_server_its_whole_time() -> None:
    from mlspec.deploy.common import Deadline, DeployError, TimedOut, Transient, retry

    now, said = [0.0], []

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def failing(refused: bool) -> None:
        raise Transient("nope", refused=refused)

    patient = Deadline(None, said.append, clock, sleep)
    refused = r"the connection was refused \(nope; 4 attempts in 3.5 s"
    with pytest.raises(DeployError, match=refused):
        retry(lambda: failing(True), "reaching x", deadline=patient)
    assert said == [
        "reaching x failed: nope (attempt 1 of 4; next in 0.5 s)",
        "reaching x failed: nope (attempt 2 of 4; next in 1 s)",
        "reaching x failed: nope (attempt 3 of 4; next in 2 s)",
    ]
    now[0], said[:] = 0.0, []
    with pytest.raises(DeployError, match=r"did not answer within 60 s \(nope\)"):
        retry(lambda: failing(False), "reaching x", total_seconds=60, deadline=patient)
    assert now[0] == 0.5 + 1 + 2 + 4 + 8 + 10 * 4 and len(said) == 9
    now[0], said[:] = 0.0, []
    bounded = Deadline(12, said.append, clock, sleep)
    with pytest.raises(TimedOut, match=r"stopped waiting after --timeout 12 s \(nope; 5 attempts"):
        retry(lambda: failing(False), "reaching x", total_seconds=60, deadline=bounded)
    assert said[0].endswith("(attempt 1 of 5; next in 0.5 s)")


def test_apply_runs_steps_in_order_and_a_failure_says_what_is_done_and_not(
    tmp_path: Path,
) -> None:
    """The one machinery every target applies its plan with: unchanged steps are skipped, a
    failure names the failed step and the rest, and never shows a secret."""
    from mlspec.deploy.common import Action, DeployError, Step, apply, write_atomically

    folder = tmp_path / "flows"
    ran: list[str] = []
    steps: list[Step[list[str]]] = [
        Step(Action("create", "file a"), lambda log: write_atomically(folder / "a", "a\n")),
        Step(Action("unchanged", "pool p")),
        Step(Action("create", "flow f"), lambda log: log.append("flow f")),
        Step(Action("update", "file b"), lambda log: (folder / "s3cr3t" / "c").write_text("b")),
        Step(Action("create", "deployment d"), lambda log: log.append("deployment d")),
    ]
    said: list[str] = []
    with pytest.raises(DeployError) as caught:
        apply(
            steps,
            ran,
            note="deploying again finishes the job",
            secrets=["s3cr3t"],
            echo=said.append,
        )
    assert ran == ["flow f"]  # the deployment after the failure was not attempted
    assert said == ["done: create file a", "done: create flow f"]
    assert str(caught.value) == (
        f"update file b failed: FileNotFoundError: [Errno 2] No such file or directory: "
        f"'{folder / '***' / 'c'}'\n"
        "  done before the failure: create file a; create flow f\n"
        "  not done: update file b; create deployment d\n"
        "  deploying again finishes the job"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_credentials_in_a_url_are_never_shown(target: str, tmp_path: Path) -> None:
    """One redaction of URL credentials for every target (Airflow printed them in its plan)."""
    url = "http://ci:pw-s3cret@127.0.0.1:9"
    result = deploy(target, "--dry-run", "--offline", *settings(target, url, tmp_path))
    assert result.exit_code == 0, result.output
    assert f"deploy to {target} at http://***@127.0.0.1:9" in result.stdout
    assert "pw-s3cret" not in result.output
