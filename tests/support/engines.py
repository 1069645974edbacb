"""`mlspec run` in a subprocess, and the flagship's passing run on each engine, once per test run.

The passing flagship run is what tests/backends/test_run.py (the engines agree),
test_kubeflow_local.py (kfp's local runner) and test_airflow_engine.py (dag.test()) each look
at; it is run once per engine for all of them, by whichever pytest-xdist worker asks first
(support/locks.py). Each run has its own state folder with a fresh SQLite MLflow registry.

The flagship's Prefect run starts its own temporary server (the cold start); the other Prefect
runs use `prefect_api`, one server per worker started when a test first asks for it: starting a
server costs seconds of CPU that most Prefect tests need not pay again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from support import airflow_env, generated, prefect_server
from support.locks import once

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
MODEL = "breast-cancer-classifier"


def mlspec_run(
    state: Path, *args: str, server: str | None = None, timeout: float = 900
) -> tuple[int, dict | None, str]:
    """Run `mlspec run --format json`; (exit code, the JSON summary, everything it printed).
    `server`: the running Prefect server's API URL it uses (PREFECT_API_URL), else its own.

    On timeout it is sent SIGTERM, on which it stops its engine's whole process group.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    if server is not None:
        env["PREFECT_API_URL"] = server
    print(f"\nstarting: mlspec run {' '.join(args)} (state {state})")
    command = [sys.executable, "-m", "mlspec.cli", "run", *args, "--state", str(state)]
    command += ["--format", "json"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.communicate(timeout=60)
        raise
    # stdout holds only the JSON summary, or nothing when the run ended before one existed.
    summary = json.loads(stdout) if stdout.strip() else None
    return process.returncode, summary, stderr + stdout


def registry(state: Path) -> tuple[list[str], dict[str, str]]:
    """The flagship model's versions and aliases in a run state folder's registry."""
    return generated.registry_state(f"sqlite:///{state / 'registry.db'}", MODEL)


@dataclass(frozen=True)
class Run:
    summary: dict  # `mlspec run --format json`
    state: Path  # the state folder: registry.db, runs/<n>-<engine>/
    output: str  # what `mlspec run` printed

    @property
    def log(self) -> str:
        """The engine's whole log (the output shows only the lines worth following)."""
        return (Path(self.summary["run_folder"]) / "engine.log").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of this worker's Prefect server, stopped at the end of the test run."""
    with prefect_server.running(tmp_path_factory.mktemp("prefect-server")) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow metadata database (`airflow db migrate`, ~10 s of CPU), made once per
    test run for every worker; dag.test() homes and the deploy tests' server copy it, never write
    to it. `mlspec run --target airflow` (the flagship's run) still migrates its own."""

    def migrate(folder: Path) -> str:
        print(f"\nstarting: airflow db migrate in {folder}")
        airflow_env.migrate(airflow_env.environment(), folder)
        return str(folder / "airflow.db")

    return Path(once(tmp_path_factory, "airflow-template", migrate))


@pytest.fixture(scope="session")
def flagship_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Run]:
    """engine -> the flagship's passing `mlspec run` on it (run once per test run)."""

    def compute(engine: str, folder: Path) -> dict:
        # A space in the run's path: kfp's local runner pastes the interpreter path into `sh -c`.
        state = folder / "run state"
        target: tuple[str, ...] = () if engine == "prefect" else ("--target", engine)
        if engine == "airflow":
            target += ("--airflow-python", str(airflow_env.environment()))
        code, summary, output = mlspec_run(state, str(FLAGSHIP), *target)
        return {"code": code, "summary": summary, "output": output, "state": str(state)}

    def run(engine: str) -> Run:
        found = once(tmp_path_factory, f"flagship-{engine}", lambda f: compute(engine, f))
        assert found["code"] == 0 and found["summary"] is not None, found["output"][-6000:]
        return Run(found["summary"], Path(found["state"]), found["output"])

    return run


def copied_state(run: Run, folder: Path) -> Path:
    """A copy of a run's state folder that later runs may add to: its registry's paths (MLflow
    keeps artifact locations and version sources absolute) moved to the copy, so the copy's
    runs write nothing into the shared original that other tests read."""
    engines = run.state / "engines"

    def airflow_home(directory: str, names: list[str]) -> list[str]:
        # Airflow's config names its database by absolute path: the copy migrates its own.
        return ["airflow"] if Path(directory) == engines else []

    shutil.copytree(run.state, folder, symlinks=True, ignore=airflow_home)
    pairs = [(str(run.state), str(folder))]
    pairs.append((quote(str(run.state)), quote(str(folder))))  # file:// URIs, space escaped
    with sqlite3.connect(folder / "registry.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [c[1] for c in db.execute(f"PRAGMA table_info('{table}')") if c[2] == "TEXT"]
            columns += [c[1] for c in db.execute(f"PRAGMA table_info('{table}')") if "CHAR" in c[2]]
            for column in columns:
                for old, new in pairs:
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE instr("{column}", ?) > 0',
                        (old, new, old),
                    )
    return folder
