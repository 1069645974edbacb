"""Running an engine in a subprocess: its output streamed as it comes, its result captured."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
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
    timeout: float | None = None,
) -> tuple[int, dict | None]:
    """Run `command`; echo the lines `show` keeps, write all to `log`, return (code, result).

    The engine runs in its own process group, which is killed on timeout or interruption,
    so nothing it started outlives the command.
    """
    with log.open("w", encoding="utf-8") as handle:
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
        timer = threading.Timer(timeout, _kill, [process]) if timeout else None
        if timer:
            timer.start()
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
            if timer:
                timer.cancel()
            if process.poll() is None:
                _kill(process)
                process.wait()
    return process.returncode, result


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
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
