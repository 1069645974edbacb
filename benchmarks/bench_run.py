"""`mlspec run` of the flagship on Prefect: its wall time beside the flow's own time.

    uv run python benchmarks/bench_run.py               # about 3-5 min on two cores
    uv run python benchmarks/bench_run.py --repeats 5

Starts a Prefect server (`prefect server start` on a free localhost port, its database in a
temporary folder) and stops it at the end. Then runs `mlspec run examples/breast-cancer/
pipeline.yaml --format json` in a fresh process, `--repeats` times on each of:

- warm: with PREFECT_API_URL naming that server, as a user with a running server would;
- cold: without it, so each run starts and stops a temporary server (its database in the
  state folder, migrated by an unmeasured warm-up run, as any state folder's first run does).

Every measured run starts from an empty, migrated MLflow registry, so it is the flagship's first
run every time: both gates run and the challenger is promoted. The flow's own time is Prefect's:
from its log's "Beginning flow run" to the flow run's "Finished in state" in the run's
engine.log. The script prints both, their ratio and the target (a warm run takes at most 3x the
flow's own time). It reports; it does not assert.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
TARGET = 3.0  # a warm `mlspec run` takes at most this many times the flow's own time


def load_prefect_server() -> ModuleType:
    """tests/support/prefect_server.py, by path: it starts and stops a real server."""
    path = ROOT / "tests" / "support" / "prefect_server.py"
    spec = importlib.util.spec_from_file_location("prefect_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def empty_registry(path: Path) -> Path:
    """A migrated MLflow registry with nothing in it, copied in before each run."""
    from mlflow import MlflowClient  # here, in the benchmark: mlspec's process never does

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its migrations log at INFO
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_registered_models()
    return path


def flow_seconds(log: Path) -> float:
    """The flow run's own time, from Prefect's timestamps (HH:MM:SS.mmm) in the engine log."""
    begun = ended = None
    for line in log.read_text(encoding="utf-8").splitlines():
        if "| Flow run '" in line and "Beginning flow run" in line:
            begun = datetime.strptime(line[:12], "%H:%M:%S.%f")
        elif "| Flow run '" in line and "Finished in state" in line:
            ended = datetime.strptime(line[:12], "%H:%M:%S.%f")
    if begun is None or ended is None:
        raise RuntimeError(f"no flow run begun and finished in {log}")
    return ((ended - begun) % timedelta(days=1)).total_seconds()  # across midnight too


def run_once(state: Path, template: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds of `mlspec run`, the flow's own seconds) of one first run of the flagship."""
    state.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, state / "registry.db")
    command = [sys.executable, "-m", "mlspec.cli", "run", str(FLAGSHIP), "--state", str(state)]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--format", "json"], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    summary = json.loads(done.stdout) if done.stdout.strip() else None
    if done.returncode != 0 or summary is None or summary["outcome"] != "passed":
        raise RuntimeError(f"mlspec run failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return wall, flow_seconds(Path(summary["run_folder"]) / "engine.log")


def measure(
    name: str, state: Path, template: Path, env: dict[str, str], repeats: int
) -> list[tuple[float, float]]:
    print(f"{name}: a warm-up run, then {repeats} measured", flush=True)
    run_once(state, template, env)
    found = []
    for _ in range(repeats):
        found.append(run_once(state, template, env))
        wall, flow = found[-1]
        print(f"  mlspec run {wall:6.2f} s   flow {flow:5.2f} s   {wall / flow:4.2f}x", flush=True)
    return found


def row(name: str, runs: list[tuple[float, float]]) -> str:
    wall = statistics.median(w for w, _ in runs)
    flow = statistics.median(f for _, f in runs)
    ratio = statistics.median(w / f for w, f in runs)
    return f"  {name:<26}{wall:8.2f}{flow:10.2f}{wall - flow:12.2f}{ratio:10.2f}x"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per mode")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    prefect_server = load_prefect_server()
    # Bytecode caching stays on, as in users' environments (the warm-up runs write the caches):
    # compiling Prefect, MLflow and SQLAlchemy from source would add seconds to every process.
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "PREFECT_", "MLSPEC_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    print(f"load average at start: {load()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="mlspec-bench-run-") as folder:
        work = Path(folder)
        template = empty_registry(work / "empty-registry.db")
        started = time.perf_counter()
        with prefect_server.running(work / "server") as url:
            server_start = time.perf_counter() - started
            print(f"the Prefect server answers at {url} after {server_start:.1f} s")
            warm_env = base_env | {"PREFECT_API_URL": url}
            warm = measure("warm", work / "warm", template, warm_env, args.repeats)
        cold = measure("cold", work / "cold", template, base_env, args.repeats)
    print(f"\nmlspec run {FLAGSHIP.relative_to(ROOT)} on Prefect, median of {args.repeats} runs")
    print(f"  {'':<26}{'wall (s)':>8}{'flow (s)':>10}{'outside (s)':>12}{'wall/flow':>11}")
    print(row("warm (PREFECT_API_URL)", warm))
    print(row("cold (temporary server)", cold))
    print(f"  server start (prefect server start until /health answers): {server_start:.1f} s")
    ratio = statistics.median(w / f for w, f in warm)
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"target: a warm run at most {TARGET:g}x the flow's own time: {verdict} ({ratio:.2f}x)")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
