"""Running an engine in a subprocess: its output streamed as it comes, its result captured."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

RESULT_PREFIX = "MLSPEC-RESULT "
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # kfp.local colours its log


def stream(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    show: Callable[[str], bool],
    echo: Callable[[str], None],
) -> tuple[int, dict | None]:
    """Run `command`; echo the lines `show` keeps, write all to `log`, return (code, result).

    The engine runs in a process group of its own, which is killed when it ends, fails or is
    interrupted (Ctrl-C or SIGTERM to mlspec), so nothing it started outlives the command:
    not Prefect's temporary server, not a kfp task.
    """
    with log.open("w", encoding="utf-8") as handle, _terminate_as_exit():
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        result = None
        try:
            assert process.stdout is not None
            for line in process.stdout:
                text = _ANSI.sub("", line.rstrip("\n"))
                handle.write(text + "\n")
                if text.startswith(RESULT_PREFIX):
                    result = json.loads(text.removeprefix(RESULT_PREFIX))
                elif show(text):
                    echo(text)
            process.wait()
        finally:
            _kill_group(process)  # also what the engine left behind after it ended
            process.wait()
    return process.returncode, result


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit while an engine runs, so that `stream` cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing is left in the group
        os.killpg(process.pid, signal.SIGKILL)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without settings that would point an engine elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PREFECT_", "MLFLOW_", "MLSPEC_", "KFP_"))
        and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env
