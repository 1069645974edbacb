"""`mlspec run --target prefect` on a Prefect server that is already running (PREFECT_API_URL,
as `mlspec deploy` reads it), and the local registry read without MLflow in mlspec's process.

A configured server must be on this machine and answer; otherwise the run is refused (exit 2)
before anything is created, within seconds, never left waiting.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import generated, prefect_server

from mlspec.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
MODEL = "breast-cancer-classifier"

# `mlspec run` in this process, then the MLflow modules it imported, on stderr.
PROBE = """
import json, sys
from mlspec.cli import main
try:
    main(["run", *sys.argv[1:]])
finally:
    mlflow = sorted(m for m in sys.modules if m.partition(".")[0] == "mlflow")
    print("MLFLOW-MODULES " + json.dumps(mlflow), file=sys.stderr)
"""


@pytest.mark.slow
def test_a_configured_server_is_reused_and_mlflow_stays_out_of_mlspec(
    tmp_path: Path, prefect_api: str
) -> None:
    server = prefect_api  # the worker's running Prefect server (tests/support/engines.py)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    env["PREFECT_API_URL"] = server
    command = [sys.executable, "-c", PROBE, str(FLAGSHIP), "--state", str(tmp_path)]
    print(f"\nstarting: mlspec run {FLAGSHIP} on the server at {server}")
    done = subprocess.run(
        [*command, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    summary = json.loads(done.stdout)
    assert summary["outcome"] == "passed"
    assert summary["promoted"] == {"challenger": "1"}
    assert f"prefect: a flow run on the server at {server}" in output
    assert "temporary server" not in output
    # The run is a flow run of that server's ...
    flow_run = summary["engine_run_id"]
    with urllib.request.urlopen(f"{server}/flow_runs/{flow_run}") as response:
        assert json.load(response)["state"]["type"] == "COMPLETED"
    # with its logs, to the last line (the driver skips only the interpreter's teardown) ...
    query = json.dumps({"logs": {"flow_run_id": {"any_": [flow_run]}}}).encode()
    request = urllib.request.Request(f"{server}/logs/filter", data=query, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        logs = json.load(response)
    assert any("promotion to 'challenger'" in log["message"] for log in logs)
    flow_logs = [log["message"] for log in logs if log["task_run_id"] is None]
    assert flow_logs[-1] == "Finished in state Completed()"
    # ... with its own registry in the state folder, which the driver read for the summary ...
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    assert generated.registry_state(uri, MODEL) == (["1"], {"challenger": "1"})
    # ... and mlspec's own process never imported MLflow.
    assert "MLFLOW-MODULES []" in done.stderr.splitlines()


def _refused(tmp_path: Path, api_url: str) -> str:
    """`mlspec run` with PREFECT_API_URL=api_url: it must be a usage error that starts nothing."""
    state = tmp_path / "state"
    args = ["run", str(FLAGSHIP), "--state", str(state)]
    result = CliRunner().invoke(main, args, env={"PREFECT_API_URL": api_url})
    assert result.exit_code == 2, result.output
    assert not state.exists()  # no run folder, no registry
    return " ".join(result.stderr.split())


def test_a_server_elsewhere_is_refused(tmp_path: Path) -> None:
    url = "https://api.prefect.cloud/api/accounts/a/workspaces/w"
    assert (
        f"PREFECT_API_URL is {url}, but mlspec run uses only a Prefect server on this machine: "
        "start one with `prefect server start` and set PREFECT_API_URL to its API URL (e.g. "
        "http://127.0.0.1:4200/api), or unset it to use a temporary server"
    ) in _refused(tmp_path, url)


def test_a_server_that_is_not_there_is_refused(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{prefect_server.free_port()}/api"
    message = _refused(tmp_path, url.replace("//", "//ci:s3cret-pw@"))
    assert "s3cret" not in message
    assert f"no Prefect server answers at PREFECT_API_URL={url} (GET {url}/health: " in message
    assert "Connection refused): start one with `prefect server start` and set" in message


def test_a_server_that_never_answers_is_refused_in_seconds(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        started = time.monotonic()
        message = _refused(tmp_path, url)
    assert time.monotonic() - started < 30
    assert f"(GET {url}/health: timed out)" in message
