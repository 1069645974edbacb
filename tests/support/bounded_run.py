"""Run `mlspec` in a child process with bounds, and measure it: wall time and peak memory.

The child gets an address-space limit (so a regression fails fast instead of taking the
machine's memory) and a file-size limit on what it writes; its peak RSS comes from wait4.
Output goes to files, not pipes: a child that floods stderr cannot block on a full pipe.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ADDRESS_SPACE = 1 << 30  # what the child may map: mlspec needs about half of it
WRITTEN = 64 << 20  # the largest file the child may write, its output included


@dataclass(frozen=True)
class Bounded:
    returncode: int  # negative: killed by that signal (-9 also when it ran out of time)
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_FSIZE, (WRITTEN, WRITTEN))


def run_mlspec(
    *args: str | Path,
    timeout: float = 30,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    cwd: Path | None = None,
) -> Bounded:
    """`mlspec ARGS` in a fresh process, killed after `timeout` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "mlspec.cli", *map(str, args)],
            stdin=stdin,
            stdout=out,
            stderr=err,
            preexec_fn=_limits,
            cwd=cwd,
        )
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.monotonic() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            seconds = max(seconds, timeout)
        out.seek(0)
        err.seek(0)
        return Bounded(
            child.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            usage.ru_maxrss / 1024,  # KiB on Linux
        )
