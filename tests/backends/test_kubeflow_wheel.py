"""The flagship's Kubeflow components get their code from the pinned wheels alone.

The wheels `mlspec build` would publish (mlspec.delivery.wheel: the step package's and mlspec's
runtime's) go into a file:// folder named by `code.wheels`; the compiled IR then runs under
kfp's local runner with `use_venv=True`: each task's exact executor command, in a fresh
virtualenv without system site-packages that holds only what the component installs, started
from a folder outside the repository with no PYTHONPATH. Nothing but the wheels can provide
`breast_cancer` and the gates' runtime there. The registry is a real
SQLite MLflow registry (its URI in the spec, so the components install MLflow's SQL store).

One pipeline run for the module (each venv costs ~40 s: pip installs kfp, scikit-learn and
MLflow from the package index); the fast test below checks that pip refuses a tampered wheel.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import generated
from support.engines import FLAGSHIP, MODEL

from mlspec.api import compile_pipeline
from mlspec.backends.kubeflow.runtime_wheel import runtime_wheel
from mlspec.compiler import analyze_file
from mlspec.delivery import wheel

WHEELS_LINE = "wheels: https://wheels.example.com/breast-cancer"
REGISTRY_LINE = "mlflow: {registered_model: breast-cancer-classifier}"
# Loads the compiled IR with kfp and runs it; kfp.local raises if a task fails.
RUN_IR = """\
import sys
import kfp.local
from kfp import components
pipeline = components.load_component_from_file(sys.argv[1])
kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=True), pipeline_root=sys.argv[2])
pipeline()
"""


@dataclass(frozen=True)
class WheelRun:
    ir_text: str
    wheel: wheel.Wheel
    registry: str
    returncode: int
    log: str
    seconds: float


def flagship_with(folder: Path, wheels: str, registry: str) -> Path:
    """A copy of the flagship and its package whose wheels and registry are these."""
    shutil.copytree(FLAGSHIP.parent, folder)
    spec = folder / FLAGSHIP.name
    text = spec.read_text(encoding="utf-8")
    assert text.count(WHEELS_LINE) == 1 and text.count(REGISTRY_LINE) == 1
    text = text.replace(WHEELS_LINE, f"wheels: {wheels}")
    text = text.replace(REGISTRY_LINE, REGISTRY_LINE[:-1] + f', tracking_uri: "{registry}"}}')
    spec.write_text(text, encoding="utf-8")
    return spec


def clean_env() -> dict[str, str]:
    """This environment without a path to the repository's code or a registry of its own."""
    drop = ("PYTHON", "VIRTUAL_ENV", "MLFLOW_", "MLSPEC_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def wheel_run(tmp_path_factory: pytest.TempPathFactory) -> WheelRun:
    folder = tmp_path_factory.mktemp("kfp-wheel")
    wheels, work, root = folder / "wheels", folder / "work", folder / "root"
    for made in (wheels, work, root):
        made.mkdir()
    registry = f"sqlite:///{folder / 'registry.db'}"
    spec = flagship_with(folder / "spec", wheels.as_uri(), registry)
    compiled = compile_pipeline(spec, "kubeflow")
    assert compiled.ok and compiled.pipeline is not None, compiled.diagnostics
    [ir_file] = [a for a in compiled.artifacts if a.path.endswith(".kfp.yaml")]
    (folder / ir_file.path).write_text(ir_file.text, encoding="utf-8")
    package = compiled.pipeline.step("train").code.package  # type: ignore[union-attr]
    assert package is not None
    built = wheel.build_wheel(package)
    (wheels / built.filename).write_bytes(built.data)
    runtime = runtime_wheel(compiled.pipeline)  # the gates and promotions install it
    assert runtime is not None
    runtime_built = wheel.build_wheel(runtime)
    (wheels / runtime_built.filename).write_bytes(runtime_built.data)

    from mlspec.run.local_registry import start_registered_model

    start_registered_model(registry, MODEL)  # as `mlspec run` makes its registry ready
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUN_IR, str(folder / ir_file.path), str(root)],
        cwd=work,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.monotonic() - started
    print(f"\nkfp.local use_venv=True run of the flagship: {seconds:.0f} s")
    return WheelRun(
        ir_file.text, built, registry, done.returncode, done.stdout + done.stderr, seconds
    )


@pytest.mark.slow
def test_the_flagship_runs_from_its_pinned_wheel_in_fresh_venvs(wheel_run: WheelRun) -> None:
    pinned = f"#sha256={wheel_run.wheel.sha256}"
    assert wheel_run.ir_text.count(pinned) == 3  # ingest, train, evaluate
    assert wheel_run.returncode == 0, wheel_run.log[-8000:]
    assert "gate data_quality: passed" in wheel_run.log
    assert "gate model_quality: passed" in wheel_run.log
    assert generated.registry_state(wheel_run.registry, MODEL) == (["1"], {"challenger": "1"})


def test_pip_refuses_a_wheel_whose_bytes_are_not_the_pinned_ones(tmp_path: Path) -> None:
    """The requirement a component installs, against a wheel swapped after compiling."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    spec = flagship_with(tmp_path / "spec", wheels.as_uri(), "sqlite:///unused.db")
    package = analyze_file(spec).pipeline.step("train").code.package  # type: ignore[union-attr]
    assert package is not None
    requirement = wheel.requirement(package, wheels.as_uri())
    built = wheel.build_wheel(package)
    # The published file, swapped for other bytes (a zip still: pip reads it as a wheel).
    tampered = built.data + b"\0" * 8
    (wheels / built.filename).write_bytes(tampered)
    tampered_sha = hashlib.sha256(tampered).hexdigest()

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet"]
    refused = subprocess.run(
        [*pip, requirement], cwd=tmp_path, env=clean_env(), capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr, refused.stderr
    assert built.sha256 in refused.stderr and tampered_sha in refused.stderr
    (wheels / built.filename).write_bytes(built.data)  # the published file, as compiled
    installed = subprocess.run(
        [*pip, requirement], cwd=tmp_path, env=clean_env(), capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
