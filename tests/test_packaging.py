"""What a user installs: the built wheel alone, in a clean virtualenv, and the sdist's contents.

With no extras every subcommand either works or names the extra to install, with exit code 2,
and never prints a traceback. The wheel and the sdist are built from this checkout with uv;
the clean environment gets the base dependencies from the package index (uv's cache when warm).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mlspec.cli import main
from mlspec.extras import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
BANDIT = ROOT / "specs" / "valid" / "bandit.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("the packaging tests build with uv (pip install uv)", pytrace=False)
    folder = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [uv, "build", "--quiet", "--out-dir", str(folder), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def bare(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `mlspec` command of a virtualenv holding the wheel and its base dependencies only."""
    uv = shutil.which("uv")
    assert uv is not None
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    (wheel,) = dist.glob("*.whl")
    done = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return venv / "bin" / "mlspec"


def _fake_config(folder: Path) -> Path:
    path = folder / "config.json"
    path.write_text("{}", encoding="utf-8")
    return path


# Each subcommand with arguments a newcomer might give it, and what a base install must do:
# "ok" (exit 0) or the extra it must name (exit 2).
def _step_tests(folder: Path) -> Path:
    """A spec whose step test needs only the standard library (the flagship's need sklearn)."""
    (folder / "tiny").mkdir(parents=True)
    (folder / "tiny" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "tiny" / "steps.py").write_text(
        "def count(rows: int, table: str) -> dict:\n"
        "    with open(table, 'w', encoding='utf-8') as handle:\n"
        "        handle.write('n\\n' + ''.join(f'{i}\\n' for i in range(rows)))\n"
        "    return {}\n",
        encoding="utf-8",
    )
    spec = folder / "tiny.yaml"
    spec.write_text(
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: tiny, version: 1.0.0}\n"
        "steps:\n  count:\n    python: tiny.steps:count\n    inputs: {rows: 3}\n"
        "    outputs: {table: dataset}\n"
        "tests:\n  three:\n    step: count\n    expect: {table: {rows: {min: 3, max: 3}}}\n",
        encoding="utf-8",
    )
    return spec


def _invocations(tmp: Path) -> dict[str, list[tuple[list[str], str]]]:
    flagship, bandit = str(FLAGSHIP), str(BANDIT)
    return {
        "validate": [([flagship], "ok")],
        "compile": [
            ([flagship, "--target", "airflow", "-o", str(tmp / "airflow")], "ok"),
            ([flagship, "--target", "prefect", "-o", str(tmp / "prefect")], "ok"),
            ([flagship, "--target", "rollout", "-o", str(tmp / "rollout")], "ok"),
            ([flagship, "--target", "kubeflow", "-o", str(tmp / "kubeflow")], "kubeflow"),
        ],
        "build": [([flagship, "-o", str(tmp / "build")], "ok")],
        "targets": [([], "ok")],
        "init": [([str(tmp / "new project")], "ok")],
        "schema": [([], "ok")],
        "graph": [([flagship], "ok")],
        "diff": [([flagship, flagship], "ok")],
        "run": [
            ([flagship, "--state", str(tmp / "state")], "mlflow"),
            ([flagship, "--target", "kubeflow", "--state", str(tmp / "state")], "mlflow"),
        ],
        "promote": [([flagship, "--alias", "champion", "--version", "1"], "mlflow")],
        "rollback": [([flagship, "--alias", "champion", "--reason", "x"], "mlflow")],
        "resolve-model": [([flagship, "--alias", "champion"], "mlflow")],
        "lineage": [(["breast-cancer-classifier@champion", "--spec", flagship], "mlflow")],
        "runs": [([flagship], "mlflow")],
        "test": [([str(_step_tests(tmp / "step tests"))], "ok")],
        "deploy": [
            ([flagship, "--target", "prefect", "--dry-run"], "prefect"),
            ([flagship, "--target", "airflow", "--dry-run"], "airflow"),
            ([flagship, "--target", "kubeflow", "--dry-run"], "kubeflow"),
        ],
        "simulate": [
            ([bandit, "--rate", "incumbent=0.05", "--rate", "candidate=0.07",
              "--rate", "rules_only=0.04", "--intervals", "5"], "ok"),
            ([bandit, "--rate", "incumbent=0.05", "--rate", "candidate=0.07",
              "--rate", "rules_only=0.04", "--plot", str(tmp / "w.png")], "plot"),
        ],
        "bandit-controller": [(["--config", str(_fake_config(tmp)), "--once"], "refused")],
    }  # fmt: skip


def test_every_subcommand_is_covered(tmp_path: Path) -> None:
    assert sorted(_invocations(tmp_path)) == sorted(main.commands)


def test_a_base_install_works_or_names_the_extra(bare: Path, tmp_path: Path) -> None:
    failures = []
    for command, cases in _invocations(tmp_path).items():
        for args, expected in cases:
            done = subprocess.run(
                [str(bare), command, *args],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
                env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            )
            output = done.stdout + done.stderr
            shown = f"mlspec {command} {' '.join(args)} -> {done.returncode}:\n{output[-1500:]}"
            if expected == "ok":
                right = done.returncode == 0
            elif expected == "refused":  # a clear refusal of a bad input
                right = done.returncode in (1, 2, 3)
            else:  # exit 2, naming the extra to install
                right = done.returncode == 2 and f"{DISTRIBUTION}[{expected}" in output
            if "Traceback" in output or not right:
                failures.append(shown)
    assert failures == [], "\n\n".join(failures)


def test_the_wheel_carries_no_tests_and_the_licence(dist: Path) -> None:
    import zipfile

    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("mlspec/", f"{DISTRIBUTION.replace('-', '_')}-")) for n in names)
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_the_wheel_ships_the_json_schema(dist: Path) -> None:
    """Editors and validators can point at the installed copy; it is what `mlspec schema` prints."""
    import zipfile

    from mlspec.schema import json_schema

    (wheel,) = dist.glob("*.whl")
    shipped = zipfile.ZipFile(wheel).read("mlspec/schemas/mlspec.schema.json").decode()
    assert shipped == json_schema()


def test_the_sdist_ships_sources_and_no_local_state(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]
    tops = {n.split("/", 1)[0] for n in names}
    assert {"src", "tests", "docs", "examples", "schemas", "specs", "LICENSE"} <= tops
    banned = ("node_modules", ".mlspec/", ".cache/", "__pycache__", ".db", ".venv")
    assert [n for n in names if any(b in n for b in banned)] == []
    assert sdist.stat().st_size < 3 * 1024 * 1024
