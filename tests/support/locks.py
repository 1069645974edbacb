"""What parallel test workers (pytest-xdist) share, one process at a time.

A folder under .cache/ (the Airflow environment, node_modules) is built by whichever worker
needs it first while the others wait; a result computed once per test run (an engine run of
the flagship) is kept in the run's shared temporary folder for every worker to read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on the file `path` (created if missing): workers of one test run,
    and concurrent test runs in one checkout, take turns. The lock ends with the process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_folder(factory: pytest.TempPathFactory) -> Path:
    """A temporary folder that every worker of this test run shares (and no other run)."""
    base = factory.getbasetemp()
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # set by xdist, the same in each worker
    folder = base.parent / f"shared-{run_id}" if run_id else base / "shared"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def once(factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], Any]) -> Any:
    """`compute(folder)` once per test run, whichever worker asks first; its JSON result for
    every later caller. A computation that raised is not kept: the next caller tries again."""
    folder = run_folder(factory) / name
    done = folder / "result.json"
    with exclusive(folder.with_name(f"{name}.lock")):
        if not done.exists():
            folder.mkdir(exist_ok=True)
            done.write_text(json.dumps(compute(folder)), encoding="utf-8")
        return json.loads(done.read_text(encoding="utf-8"))
