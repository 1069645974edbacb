"""Adding a target is one package plus one registry entry: a throw-away target, registered
through the `mlspec.targets` entry-point group of a package that exists only in a temporary
folder, shows up everywhere the built-ins do (CLI choices and flags, `mlspec targets`, the
target list that the tests parametrize over) and compiles, deploys and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = '''
"""A target that writes the step names, one a line."""

from mlspec.backends.base import Artifact
from mlspec.backends.registry import Deployer, Engine, Target
from mlspec.run.engines import EngineResult


class Backend:
    name = "throwaway"
    description = "the step names"

    def check(self, pipeline):
        return []

    def emit(self, pipeline):
        text = "".join(step.name + "\\n" for step in pipeline.steps)
        return [Artifact(f"{pipeline.name}.steps.txt", text)]


def run(engine_run):
    engine_run.write(engine_run.state.run_folder / "throwaway")
    tasks = {step.name: "completed" for step in engine_run.pipeline.steps}
    return EngineResult(True, "t-1", tasks, "done")


TARGET = Target(
    "throwaway",
    "a throw-away target for the registry test",
    "throwaway_target:Backend",
    Deployer("throwaway_target.deploy"),
    Engine("throwaway_target:run"),
)
'''

DEPLOY = """
from mlspec.deploy.common import Setting

SETTINGS = (Setting("throwaway_url", "THROWAWAY_URL", "Where the throw-away server listens."),)


class Plan:
    def __init__(self, request):
        self.request = request

    def render(self):
        url = self.request.settings["throwaway_url"]
        return f"would upload {len(self.request.artifacts)} file(s) to {url}\\n"

    def as_json(self):
        return {"files": [a.path for a in self.request.artifacts]}


def deploy(request):
    return Plan(request)


offline_plan = deploy
"""

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: tiny, version: 1.0.0}
steps:
  make: {python: "steps:make", outputs: {n: int}}
  use: {python: "steps:use", inputs: {n: make.n}}
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "throwaway_target").mkdir()
    (folder / "throwaway_target" / "__init__.py").write_text(PACKAGE, encoding="utf-8")
    (folder / "throwaway_target" / "deploy.py").write_text(DEPLOY, encoding="utf-8")
    info = folder / "throwaway_target-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: throwaway-target\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[mlspec.targets]\nthrowaway = throwaway_target:TARGET\n"
        # Two broken plug-ins of the same package: they must not break the others.
        "missing = throwaway_target:NO_SUCH_NAME\nwrong = throwaway_target:Backend\n",
        encoding="utf-8",
    )
    (folder / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    return folder


def _run(plugin: Path, *args: str, python: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", python] if python else [sys.executable, "-m", "mlspec.cli"]
    env = {**os.environ, "PYTHONPATH": str(plugin), "THROWAWAY_URL": "http://127.0.0.1:9"}
    return subprocess.run(
        [*command, *args], cwd=plugin, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_target_is_listed_and_offered(plugin: Path) -> None:
    listed = _run(plugin, "targets", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout)[-1]
    assert row == {
        "name": "throwaway",
        "summary": "a throw-away target for the registry test",
        "deploy": True,
        "run": True,
    }
    names = _run(plugin, python="from mlspec.backends.registry import targets; print(*targets())")
    assert names.stdout.split()[-1] == "throwaway"  # what tests over every target cover
    deploy_help = _run(plugin, "deploy", "--help")
    assert "[kubeflow|airflow|prefect|throwaway]" in deploy_help.stdout
    assert "--throwaway-url" in deploy_help.stdout and "THROWAWAY_URL" in deploy_help.stdout
    assert "[kubeflow|airflow|prefect|throwaway]" in _run(plugin, "run", "--help").stdout
    completion = subprocess.run(
        [Path(sys.executable).parent / "mlspec"],
        env={
            **os.environ,
            "PYTHONPATH": str(plugin),
            "_MLSPEC_COMPLETE": "bash_complete",
            "COMP_WORDS": "mlspec compile tiny.yaml --target thr",
            "COMP_CWORD": "4",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completion.stdout.splitlines() == ["plain,throwaway"]


def test_a_broken_plug_in_is_reported_and_left_out(plugin: Path) -> None:
    listed = _run(plugin, "targets")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.splitlines() == [
        "warning: plug-in missing = throwaway_target:NO_SUCH_NAME (entry point group "
        "mlspec.targets) cannot be loaded: AttributeError: module 'throwaway_target' has no "
        "attribute 'NO_SUCH_NAME'",
        "warning: plug-in wrong = throwaway_target:Backend (entry point group mlspec.targets) "
        "is a type, not an mlspec Target",
    ]
    assert [line.split()[0] for line in listed.stdout.splitlines()][-1] == "throwaway"
    assert "missing" not in listed.stdout and "wrong" not in listed.stdout


def test_the_target_compiles_deploys_and_runs(plugin: Path) -> None:
    validated = _run(plugin, "validate", "-t", "throwaway", "tiny.yaml")
    assert validated.returncode == 0, validated.stderr
    assert "throwaway checked" in validated.stdout
    compiled = _run(plugin, "compile", "tiny.yaml", "-t", "throwaway", "-o", "out")
    assert compiled.returncode == 0, compiled.stderr
    assert (plugin / "out" / "tiny.steps.txt").read_text(encoding="utf-8") == "make\nuse\n"
    deployed = _run(plugin, "deploy", "tiny.yaml", "-t", "throwaway", "--dry-run", "--offline")
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout == "would upload 1 file(s) to http://127.0.0.1:9\n"
    ran = _run(
        plugin, "run", "tiny.yaml", "-t", "throwaway", "--state", "state", "--format", "json"
    )
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["outcome"] == "passed" and summary["engine"] == "throwaway"
    [run_folder] = (plugin / "state" / "runs").iterdir()
    written = (run_folder / "throwaway" / "tiny.steps.txt").read_text(encoding="utf-8")
    assert written == "make\nuse\n"
