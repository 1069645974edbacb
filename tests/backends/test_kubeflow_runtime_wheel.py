"""With `code.wheels` in defaults, the Kubeflow gates and promotions install mlspec's runtime as
a pinned wheel instead of carrying its modules as text (issue 19, for issue 18's size budget).

The IR is read as the cluster reads it: kfp's protobufs (support/kfp_ir.py), kfp's placeholder
substitution and the component's `sh -c` with stub interpreters (support/kfp_exec.py). The wheel
is the one `mlspec build` writes: published in a file:// folder, installed by pip from the exact
requirement the IR holds into a fresh venv, and the IR's own module runs a gate with it.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import generated, kfp_exec
from support.kfp_ir import validate

from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.backends.kubeflow.runtime import EXECUTOR
from mlspec.cli import main
from mlspec.compiler import analyze_file
from mlspec.compiler.passes import localize

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
WHEELS_LINE = "wheels: https://wheels.example.com/breast-cancer"
FLAGSHIP_BUDGET = 80 * 1024  # issue 18 (benchmarks/bench_sizes.py)
# A serving gate (issue 21) that the promotion waits for: ~30 KB of runtime text if embedded.
RUNTIME_INSTALL = " @ "  # the form of a pinned requirement: `name @ URL#sha256=...`


def kfp_text(pipeline: object) -> str:
    (ir_file,) = generated.without_rollout(KubeflowBackend().emit(pipeline))  # type: ignore[arg-type]
    return ir_file.text


def flagship_copy(folder: Path, wheels: str | None = None) -> Path:
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("__pycache__", "build"))
    spec = folder / FLAGSHIP.name
    text = spec.read_text(encoding="utf-8")
    if wheels is not None:
        assert text.count(WHEELS_LINE) == 1
        text = text.replace(WHEELS_LINE, f"wheels: {wheels}")
    spec.write_text(text, encoding="utf-8")
    return spec


def runtime_installs(ir_text: str, folder: Path) -> dict[str, list[list[str]]]:
    """Per runtime task, the argument lists of its `pip install`s, as the cluster runs them."""
    stubs = kfp_exec.write_stubs(folder / "bin")
    calls = {}
    for executor in kfp_exec.executors(ir_text):
        if executor.label != EXECUTOR:
            continue
        work = folder / executor.task
        work.mkdir()
        values = kfp_exec.executor_input(executor, "x", str(folder / "root"))
        argv = kfp_exec.resolve(executor, values, str(folder / "root"))
        ran = kfp_exec.run(argv, kfp_exec.env_values(executor), stubs, work)
        calls[executor.task] = [c[6:] for c in ran if c[:4] == ["python3", "-m", "pip", "install"]]
    return calls


def shared_module(ir_text: str) -> str:
    spec = validate(ir_text)[0]
    return str(spec["deploymentSpec"]["executors"][EXECUTOR]["container"]["command"][-1])


def build_runtime_wheel(spec: Path, out: Path) -> Path:
    """`mlspec build`'s runtime wheel, from its JSON result."""
    done = CliRunner().invoke(main, ["build", str(spec), "-o", str(out), "--format", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    wheel = Path(result["runtime_wheel"]["file"])
    assert result["runtime_wheel"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    return wheel


def test_the_flagship_installs_the_pinned_runtime_wheel_and_carries_no_runtime_text(
    tmp_path: Path,
) -> None:
    wheel = build_runtime_wheel(FLAGSHIP, tmp_path / "out")
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    package = wheel.name.split("-")[0]
    pinned = f"{package} @ https://wheels.example.com/breast-cancer/{wheel.name}#sha256={sha256}"
    text = kfp_text(analyze_file(FLAGSHIP).pipeline)
    module = shared_module(text)  # the protobufs load it
    assert "_MLSPEC_FILES" not in module and "def data_gate_step" not in text
    assert f"_MLSPEC_PACKAGE = '{package}'" in module
    calls = runtime_installs(text, tmp_path / "run")
    runtime_tasks = ["data-quality", "model-quality", "promote-challenger", "servable"]
    tracking = ["mlspec-close", "mlspec-lineage", "mlspec-track"]  # a registry: a tracked run
    assert sorted(calls) == sorted(runtime_tasks + tracking)
    for task, installs in calls.items():  # one argument, verbatim, after kfp and `sh -c`
        assert pinned in installs[0], (task, installs)
    assert text.count(pinned) == 1  # one executor for all of them
    assert len(text.encode()) <= FLAGSHIP_BUDGET


def test_the_flagships_serving_gate_keeps_it_within_its_budget() -> None:
    pipeline = analyze_file(FLAGSHIP).pipeline
    assert any(g.kind == "serving" for g in pipeline.gates)
    text = kfp_text(pipeline)
    assert "'steps').serving_gate_step(" in shared_module(text)
    assert len(text.encode()) <= FLAGSHIP_BUDGET
    # Embedded, the same pipeline would not fit: what the wheel is for.
    embedded = kfp_text(dataclasses.replace(pipeline, runtime_wheels=None))
    assert len(embedded.encode()) > FLAGSHIP_BUDGET


def test_without_code_wheels_or_in_a_local_run_the_runtime_stays_embedded(tmp_path: Path) -> None:
    data_gates = analyze_file(ROOT / "specs" / "valid" / "data-gates.yaml").pipeline
    local = localize(analyze_file(FLAGSHIP).pipeline, "sqlite:///r.db", str(tmp_path / "a"))
    for pipeline in (data_gates, local):
        text = kfp_text(pipeline)
        assert "_MLSPEC_FILES" in shared_module(text)
        assert "mlspec_runtime_" in text and "def data_gate_step" in text
        calls = runtime_installs(text, tmp_path / pipeline.name)
        assert calls and not [a for i in calls.values() for a in i[0] if RUNTIME_INSTALL in a]


def _dataset(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["mean_radius", "mean_texture", "worst_area", "target"])
        for i in range(rows):
            out.writerow([10 + i % 10, 15.0 + (i % 7) / 10, 600.0 + i % 50, i % 2])


@pytest.mark.parametrize("rows", [300, 10])
def test_the_built_runtime_wheel_installs_as_pinned_and_runs_the_flagships_gate(
    tmp_path: Path, rows: int
) -> None:
    published = tmp_path / "published"
    published.mkdir()
    spec = flagship_copy(tmp_path / "spec", wheels=published.as_uri())
    wheel = build_runtime_wheel(spec, tmp_path / "out")
    shutil.copy(wheel, published / wheel.name)
    text = kfp_text(analyze_file(spec).pipeline)
    installs = runtime_installs(text, tmp_path / "run")["data-quality"][0]
    [requirement] = [a for a in installs if a.startswith("mlspec_runtime_")]
    # pip, from the requirement exactly as the component passes it (it checks the sha256).
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", requirement]
    installed = subprocess.run(pip, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The IR's module (it needs kfp, which the runtime's venv lacks) runs the data gate with
    # the installed package, and nothing else that could provide it.
    path = tmp_path / "ephemeral_component.py"
    path.write_text(shared_module(text), encoding="utf-8")
    dataset = tmp_path / "train.csv"
    _dataset(dataset, rows)
    report = tmp_path / "report" / "report.json"
    report.parent.mkdir()  # kfp makes an output artifact's folder
    script = (
        "import importlib.util, sys, types\n"
        f"sys.path.append({site!r})\n"
        f"spec = importlib.util.spec_from_file_location('component', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"data = types.SimpleNamespace(path={str(dataset)!r})\n"
        f"report = types.SimpleNamespace(path={str(report)!r})\n"
        "print('verdict', module.data_quality(\n"
        "    dataset=data, reference_0=data, tracking_run='', report=report\n"
        "))\n"
        "name = module._MLSPEC_PACKAGE\n"
        "print('from', sys.modules[name].__file__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"verdict {rows >= 250}" in done.stdout  # row_count: {min: 250}
    assert f"from {site}/mlspec_runtime_" in done.stdout
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["gate"] == "data_quality" and result["passed"] is (rows >= 250)
