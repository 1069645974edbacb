"""`mlspec test` of the flagship: the wall and CPU time of the whole command, per test.

    uv run python benchmarks/bench_step_tests.py               # about 30 s on two cores
    uv run python benchmarks/bench_step_tests.py --repeats 7

Runs `mlspec test examples/breast-cancer/pipeline.yaml --format json` in a fresh process
`--repeats` times and prints the median wall time of the command, its CPU time (user + system
of the child, which other processes on a busy machine do not inflate), each test's own time as
the command reports it, and the target: under 5 s. It reports; it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
TARGET_SECONDS = 5.0


def _once() -> tuple[float, float, dict[str, float]]:
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", "test", str(FLAGSHIP), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        sys.exit(f"mlspec test failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    tests = {t["name"]: t["seconds"] for t in json.loads(done.stdout)["tests"]}
    return wall, cpu, tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    _once()  # warm the disk cache and the bytecode
    runs = [_once() for _ in range(args.repeats)]
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    print(f"mlspec test {FLAGSHIP.relative_to(ROOT)} ({args.repeats} runs, median)")
    print(f"  wall time {wall:.2f} s, CPU time {cpu:.2f} s (target: under {TARGET_SECONDS:g} s)")
    for name in runs[0][2]:
        print(f"  {name}: {statistics.median(r[2][name] for r in runs):.2f} s")
    print(f"  load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
