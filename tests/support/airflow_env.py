"""The separate Airflow environment that tests and benchmarks run generated DAGs in.

Airflow 3.3.2 cannot share an environment with prefect (their fastapi pins conflict), so the
tests build a virtualenv of their own from tests/airflow/requirements.txt (pinned), with uv,
under .cache/ in the repository, named by a hash of the requirements: built once per machine,
rebuilt when the pins change. Everything Airflow does then runs in a subprocess of that
environment's interpreter (airflow_driver.py), with its own AIRFLOW_HOME.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.locks import exclusive

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "tests" / "airflow" / "requirements.txt"
DRIVER = ROOT / "src" / "mlspec" / "run" / "airflow_driver.py"
RESULT_PREFIX = "MLSPEC-RESULT "


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV to itself
    if not found:
        raise RuntimeError("the Airflow tests build their environment with uv: pip install uv")
    return found


def environment() -> Path:
    """The Airflow environment's interpreter, building the environment if needed."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    folder = ROOT / ".cache" / f"airflow-{digest}"
    python = folder / "bin" / "python"
    done = folder / ".complete"
    with exclusive(folder.with_name(f"{folder.name}.lock")):  # parallel workers build it once
        if done.exists():
            return python
        shutil.rmtree(folder, ignore_errors=True)  # a half-built one from an interrupted run
        print(f"\nbuilding the Airflow test environment in {folder} (uv, {REQUIREMENTS.name})")
        # The interpreter the tests run on, so that pickled models move between the two.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([_uv(), "venv", "--quiet", "--python", base, str(folder)], check=True)
        subprocess.run(
            [_uv(), "pip", "install", "--quiet", "--python", str(python), "-r", str(REQUIREMENTS)],
            check=True,
        )
        done.write_text(digest + "\n")
    return python


def base_env(home: Path) -> dict[str, str]:
    """A quiet, offline Airflow configuration rooted at `home`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "MLFLOW_", "PYTHON", "VIRTUAL_ENV", "MLSPEC_"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def migrate(python: Path, home: Path) -> None:
    """A migrated metadata database in `home` (`airflow db migrate`, ~10 s): for dag.test()."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(python), "-m", "airflow", "db", "migrate"],
        env=base_env(home),
        check=True,
        capture_output=True,
    )


def drive(python: Path, env: dict[str, str], *args: str, timeout: float = 600) -> dict:
    """Run the driver in the Airflow environment: its JSON result plus its `log`."""
    done = subprocess.run(
        [str(python), str(DRIVER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line.removeprefix(RESULT_PREFIX))
            result["log"] = done.stdout + done.stderr
            return result
    raise AssertionError(
        f"airflow driver {args} exited {done.returncode} without a result\n"
        f"--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}"
    )
