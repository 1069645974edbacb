"""A real Prefect server on a free localhost port, for tests and benchmarks, stopped after use.

`prefect server start` runs in a process group of its own, with its database in `home`; on the
way out the group gets SIGTERM, then SIGKILL, so nothing it started outlives the `with` block.
`Server` and `deploy` are how the trigger loops (tests/deploy) deploy to one and watch it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlspec.run.process import clean_env


def free_port() -> int:
    """A localhost port nobody listens on (once the probe is closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running(home: Path, timeout: float = 240) -> Iterator[str]:
    """A started server's API URL (http://127.0.0.1:PORT/api); its log is home/server.log."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    log = home / "server.log"
    server = start(command, env, log, f"a Prefect server at {url}")
    try:
        wait_healthy(url, server, log, timeout)
        yield url
    finally:
        stop(server, f"the Prefect server at {url}", grace=15)


def start(
    command: list[str], env: dict[str, str], log: Path, what: str, cwd: Path | None = None
) -> subprocess.Popen:
    """`command` in a process group of its own (so `stop` ends what it starts), logging to `log`,
    in folder `cwd` (default: this process's)."""
    print(f"\nstarting: {what}: {' '.join(command)} (log {log})")
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen, what: str, grace: float = 3) -> None:
    """SIGTERM to the process group, `grace` seconds, then SIGKILL: what it started ends with it."""
    print(f"\nstopping: {what} (process group {process.pid})")
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything the leader left behind


def wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Until the server at `url` answers /health; RuntimeError with its log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            why = f"exited ({server.returncode})"
            raise RuntimeError(f"the Prefect server {why}:\n{log.read_text()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer within {timeout} s:\n{log.read_text()}")


# What a server needs to start deployments on events: the event persister (events are kept and
# can be read back) and the triggers service (reactive and proactive triggers, and the actions
# that run a deployment). Both are on by default; said here so that a default changing fails a
# test rather than silently never triggering.
EVENT_SERVICES = {
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true",
}


@contextlib.contextmanager
def with_process_worker(
    base: Path, pool: str, server_env: dict[str, str] | None = None, **worker_env: str
) -> Iterator[tuple[str, Path]]:
    """A server (its home and SQLite database under `base`, its event services on, and
    `server_env`) and a process worker polling `pool`, which it does not create: (the API URL,
    the worker's log)."""
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        **EVENT_SERVICES,
        **(server_env or {}),
    )
    prefect_cli = [sys.executable, "-m", "prefect"]
    command = [*prefect_cli, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = start(command, env, base / "server.log", f"Prefect server at {url}")
    worker = None
    try:
        wait_healthy(url, server, base / "server.log")
        print(f"\nthe Prefect server answers at {url}")
        env = clean_env(
            PREFECT_HOME=str(base / "worker-home"),
            PREFECT_API_URL=url,
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_HEARTBEAT_SECONDS="5",  # it sees the pool soon after deploy makes it
            **worker_env,
        )
        command = [*prefect_cli, "worker", "start", "--pool", pool, "--type", "process"]
        command.append("--no-create-pool-if-not-found")  # `mlspec deploy` creates it
        worker = start(command, env, base / "worker.log", "Prefect process worker")
        yield url, base / "worker.log"
    finally:
        if worker is not None:
            stop(worker, "Prefect process worker")
        stop(server, "Prefect server")


class Server:
    """A running server, as the trigger tests look at it: deployments, their runs, events."""

    def __init__(self, url: str) -> None:
        self.url = url

    def client(self) -> Any:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.url}):
            return get_client(sync_client=True)

    def deployment(self, full_name: str) -> Any:
        with self.client() as client:
            return client.read_deployment_by_name(full_name)

    def runs(self, full_name: str) -> list[Any]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        deployment_id = self.deployment(full_name).id
        with self.client() as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )

    def events(self, name: str, least: int = 0, timeout: float = 30) -> list[dict[str, Any]]:
        """The events of that name the server kept, once there are at least `least` (the
        persister writes them in batches, every FLUSH_SECONDS)."""
        body = {"filter": {"event": {"name": [name]}}, "limit": 50}
        deadline = time.monotonic() + timeout
        while True:
            with self.client() as client:
                found = client.request("POST", "/events/filter", json=body).json()["events"]
            if len(found) >= least or time.monotonic() > deadline:
                return list(found)
            time.sleep(0.5)

    def run(self, full_name: str, timeout: float = 240, **parameters: object) -> Any:
        """A flow run of the deployment, followed to its end."""
        deployment_id = self.deployment(full_name).id
        with self.client() as client:
            run = client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
        return self.finished(lambda: [r for r in self.runs(full_name) if r.id == run.id], timeout)

    def finished(self, runs: Callable[[], list[Any]], timeout: float = 240) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [r for r in runs() if r.state is not None and r.state.is_final()]
            if done:
                return done[0]
            time.sleep(1)
        raise AssertionError(f"no run finished within {timeout} s")


def deploy(url: str, spec: Path, flow_dir: Path) -> str:
    """`mlspec deploy SPEC -t prefect` to the server at `url`; what it printed."""
    from click.testing import CliRunner

    from mlspec import cli

    base: dict[str, str | None] = {"MLSPEC_PREFECT_WORK_POOL": None}
    args = ["deploy", str(spec), "-t", "prefect", "--prefect-api-url", url]
    result = CliRunner().invoke(cli.main, [*args, "--prefect-flow-dir", str(flow_dir)], env=base)
    assert result.exit_code == 0, result.output
    return result.output
