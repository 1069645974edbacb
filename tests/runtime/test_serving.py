"""The serving gate for real: MLServer serving the flagship's trained model, and a `command`
server, on localhost, in environments built by uv (or pip) from PyPI.

One cache folder serves the whole session, so each environment is built once (the first test
of a runtime pays the build; see `cache` for the figures). Without network, the builds fail and
every test here fails with the installer's reason (the gate blocks: it never crashes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shipped import load
from support.locks import run_folder

from mlspec.runtime import embed, serving
from mlspec.runtime.report import GateReport, gate_report_from_json
from mlspec.runtime.steps import serving_gate_step

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer"
V2_SERVER = str(Path(__file__).with_name("v2_server.py"))


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One environment cache for the whole test run (its parallel workers too): each
    environment is built once, under the gate's own lock."""
    folder = run_folder(tmp_path_factory) / "serving-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLSPEC_SERVING_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The flagship's test split and its trained model (a pickle without file extension), made
    by the example's own step functions with the spec's default parameters."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from breast_cancer import steps
    finally:
        sys.path.remove(str(EXAMPLE))
    folder = tmp_path_factory.mktemp("flagship")
    paths = {name: str(folder / name) for name in ("train", "test", "reference", "model")}
    steps.ingest(
        test_fraction=0.25,
        seed=7,
        train=paths["train"],
        test=paths["test"],
        reference=paths["reference"],
    )
    steps.train(train=paths["train"], n_estimators=200, max_depth=6, seed=7, model=paths["model"])
    return paths


def config(**changes: object) -> dict:
    """serving_args of the flagship's gate: MLServer, 20 test rows without the label."""
    base = {
        "runtime": "mlserver",
        "command": [],
        "requirements": ["scikit-learn>=1.5"],
        "rows": 20,
        "drop": ["target"],
        "examples": [],
        "expect_type": "int",
        "expect_shape": [1],
        "ready_seconds": 120,
        "max_p95_latency_ms": 1000.0,
        "max_memory_bytes": 2 * 1024**3,
    }
    return {**base, **changes}


def gate(tmp_path: Path, model: str, settings: dict, dataset: str | None = None) -> GateReport:
    """Run the step as a pipeline does; the report file must say what it returned."""
    report_path = tmp_path / "report.json"
    passed = serving_gate_step("serves", model, settings, str(report_path), dataset)
    report = gate_report_from_json(report_path.read_text())
    assert report.passed is passed and report.kind == "serving"
    return report


def by_check(report: GateReport) -> dict[str, serving.CheckResult]:
    return {c.check: c for c in report.checks}


# ---- MLServer with the flagship's model -----------------------------------------------------


def test_flagship_model_passes_with_mlserver(
    cache: Path, flagship: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = gate(tmp_path, flagship["model"], config(), flagship["test"])
    checks = by_check(report)
    assert report.passed, report
    assert list(checks) == [
        "environment",
        "ready",
        "answered",
        "type",
        "shape",
        "p95_latency",
        "peak_memory",
    ]
    assert checks["answered"].measured == 20
    assert 0 < checks["p95_latency"].measured < 1000
    # The server and its inference worker: each loads scikit-learn and the forest.
    assert 100 * 1024**2 < checks["peak_memory"].measured < 2 * 1024**3
    out = capsys.readouterr().out
    assert "serving gate serves: starting mlserver on 127.0.0.1:" in out
    assert 'MLSPEC-GATE {"gate": "serves", "kind": "serving", "passed": true' in out
    with capsys.disabled():  # the figures the docs quote
        print(
            f"\nmlserver: environment {checks['environment'].measured:.1f} s, ready "
            f"{checks['ready'].measured:.1f} s, p95 {checks['p95_latency'].measured:.1f} ms, "
            f"peak {checks['peak_memory'].measured / 1024**2:.0f} MiB"
        )


def test_corrupted_model_blocks(cache: Path, flagship: dict, tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.write_bytes(Path(flagship["model"]).read_bytes()[:1000])  # a truncated pickle
    report = gate(tmp_path, str(broken), config(), flagship["test"])
    checks = by_check(report)
    assert not report.passed
    assert checks["environment"].passed and not checks["ready"].passed
    assert checks["ready"].measured is None
    assert "the server exited" in report.reason
    assert "_pickle.UnpicklingError: pickle exhausted before end of frame" in report.reason
    assert not checks["answered"].passed and "not measured" in checks["answered"].detail


def test_wrong_expected_shape_blocks(cache: Path, flagship: dict, tmp_path: Path) -> None:
    report = gate(tmp_path, flagship["model"], config(expect_shape=[2]), flagship["test"])
    checks = by_check(report)
    assert not report.passed
    assert not checks["shape"].passed and checks["shape"].measured == 0
    assert checks["shape"].detail == "request 1: shape [1], expected [2]"
    assert "shape [1], expected [2]" in report.reason
    assert all(c.passed for c in report.checks if c.check != "shape")


def test_latency_limit_below_the_measured_one_blocks(
    cache: Path, flagship: dict, tmp_path: Path
) -> None:
    report = gate(tmp_path, flagship["model"], config(max_p95_latency_ms=0.01), flagship["test"])
    latency = by_check(report)["p95_latency"]
    assert not report.passed
    assert not latency.passed and latency.measured > 0.01
    assert latency.threshold == "<= 0.01 ms"
    assert all(c.passed for c in report.checks if c.check != "p95_latency")


def test_requirement_that_cannot_be_installed_blocks(
    cache: Path, flagship: dict, tmp_path: Path
) -> None:
    """No scikit-learn 0.0.1 exists: the installer's reason blocks the gate (without network,
    the reason is the failed download, which names the package too), and nothing half-built
    is left to be reused."""
    settings = config(requirements=["scikit-learn==0.0.1"])
    report = gate(tmp_path, flagship["model"], settings, flagship["test"])
    environment = by_check(report)["environment"]
    assert not report.passed and not environment.passed
    assert "scikit-learn" in environment.detail and "failed (exit" in environment.detail
    assert report.reason == environment.detail
    folder = cache / serving.environment_key("mlserver", ["scikit-learn==0.0.1"])
    assert not (folder / ".complete").exists()


@pytest.mark.slow  # its own environment, a model saved by it, then the server: 15-35 s
def test_mlflow_model_folder_passes_with_mlflow_serving(
    cache: Path, flagship: dict, tmp_path: Path
) -> None:
    """The same forest as an MLflow model folder (saved by MLflow of the gate's own environment,
    as a pickle: MLflow's default skops format refuses the forest's tree type), served by
    `mlflow models serve` at /invocations."""
    settings = config(runtime="mlflow")
    python = serving.ensure_environment("mlflow", settings["requirements"], print)
    folder = tmp_path / "mlflow-model"
    save = (
        "import pickle, sys, mlflow.sklearn; "
        "forest = pickle.load(open(sys.argv[1], 'rb')); "
        "mlflow.sklearn.save_model(forest, sys.argv[2], serialization_format='cloudpickle')"
    )
    subprocess.run([python, "-c", save, flagship["model"], str(folder)], check=True)
    report = gate(tmp_path, str(folder), settings, flagship["test"])
    checks = by_check(report)
    assert report.passed, report
    assert checks["ready"].subject == "/ping" and checks["answered"].subject == "/invocations"
    assert checks["answered"].measured == 20
    not_a_folder = gate(tmp_path, flagship["model"], settings, flagship["test"])
    assert not not_a_folder.passed and "has no MLmodel" in not_a_folder.reason


# ---- the command runtime --------------------------------------------------------------------


def command_config(mode: str = "ok", **changes: object) -> dict:
    """The tiny V2 server of v2_server.py, with two inline rows and no requirements."""
    base = {
        "runtime": "command",
        "command": ["python", V2_SERVER, "${model}", "${port}", mode],
        "requirements": [],
        "drop": [],
        "examples": [[1, 2.5], [3, 4]],
        "expect_type": "float",
        "expect_shape": [2],
        "ready_seconds": 30,
    }
    return config(**{**base, **changes})


@pytest.fixture
def scale_model(tmp_path: Path) -> str:
    path = tmp_path / "model"
    path.write_text(json.dumps({"scale": 2}))
    return str(path)


def test_command_runtime_passes(cache: Path, scale_model: str, tmp_path: Path) -> None:
    report = gate(tmp_path, scale_model, command_config())
    checks = by_check(report)
    assert report.passed, report
    assert checks["answered"].measured == 2 and checks["ready"].subject == "/v2/health/ready"
    assert checks["peak_memory"].measured > 0


def test_dataset_rows_are_sent_in_file_order_without_dropped_columns(
    cache: Path, scale_model: str, tmp_path: Path
) -> None:
    dataset = tmp_path / "rows.csv"
    dataset.write_text("a,label,b\n1,0,2\n3,1,4.5\n5,0,6\n")
    settings = command_config(examples=[], drop=["label"], rows=2)
    assert serving.canned_requests(settings, str(dataset)) == [
        (["a", "b"], ["1", "2"]),
        (["a", "b"], ["3", "4.5"]),
    ]
    assert gate(tmp_path, scale_model, settings, str(dataset)).passed
    report = gate(tmp_path, scale_model, command_config(examples=[], drop=["nope"]), str(dataset))
    assert not report.passed and "drop names columns the dataset does not have" in report.reason


def test_memory_limit_below_the_peak_blocks(cache: Path, scale_model: str, tmp_path: Path) -> None:
    report = gate(tmp_path, scale_model, command_config("hog", max_memory_bytes=200 * 1024**2))
    memory = by_check(report)["peak_memory"]
    assert not report.passed and not memory.passed
    assert memory.measured > 300 * 1024**2


def test_a_server_that_fails_to_load_blocks_with_its_output(
    cache: Path, scale_model: str, tmp_path: Path
) -> None:
    report = gate(tmp_path, scale_model, command_config("exit"))
    assert not report.passed
    assert "the server exited (code 1)" in report.reason
    assert f"cannot load {scale_model}: not a model" in report.reason


def test_a_server_never_ready_is_stopped_with_its_children(
    cache: Path, scale_model: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    report = gate(tmp_path, scale_model, command_config("hang", ready_seconds=2))
    assert report.reason == "not ready within 2 s: (the server printed nothing)"
    assert time.monotonic() - started < 30
    # The server and the child it started (both name the script) are gone (or zombies: this
    # container's init may not reap orphans).
    left = [
        p.name for p in Path("/proc").iterdir() if p.name.isdigit() and V2_SERVER in _cmdline(p)
    ]
    assert [pid for pid in left if _state(pid) != "Z"] == []


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_the_compact_component_package_runs_the_gate(
    cache: Path, scale_model: str, tmp_path: Path
) -> None:
    """What a Kubeflow component carries (compact, unused functions left out) runs the gate as
    the runtime does."""
    package = embed.component_package(("steps:serving_gate_step",))
    assert [f for f, _ in package.files] == [
        "__init__.py",
        "datachecks.py",
        "report.py",
        "serving.py",
        "steps.py",
    ]
    steps = load(package, tmp_path, "steps")
    report_path = tmp_path / "shipped.json"
    assert steps.serving_gate_step("serves", scale_model, command_config(), str(report_path))
    assert json.loads(report_path.read_text())["kind"] == "serving"


# ---- the environment cache ------------------------------------------------------------------


def test_concurrent_builders_build_one_environment_once(
    cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLSPEC_SERVING_CACHE", str(tmp_path))
    said: list[str] = []
    pythons: list[str] = []

    def build() -> None:
        pythons.append(serving.ensure_environment("command", [], said.append))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pythons)) == 1 and os.access(pythons[0], os.X_OK)
    assert sum(line.startswith("building the command environment") for line in said) == 1
    assert sum(line.startswith("reusing") for line in said) == 2


def test_a_half_built_environment_is_rebuilt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLSPEC_SERVING_CACHE", str(tmp_path))
    folder = tmp_path / serving.environment_key("command", [])
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("a build that was killed half-way")
    said: list[str] = []
    python = serving.ensure_environment("command", [], said.append)
    assert (folder / ".complete").exists() and said[0].startswith("building")
    prefix = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True
    )
    assert prefix.stdout.strip() == str(folder)


# ---- promotion ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_blocked_serving_gate_promotes_nothing(
    cache: Path, scale_model: str, tmp_path: Path, uri: str
) -> None:
    """A real SQLite registry: the rule that needs the serving gate registers no version."""
    from mlflow import MlflowClient

    from mlspec.runtime.registry import promote_after_gates

    blocked = gate(tmp_path, scale_model, command_config("exit"))
    passed = gate(tmp_path, scale_model, command_config())
    assert passed.passed and not blocked.passed
    arguments = {
        "alias": "champion",
        "rule_gates": ["serves"],
        "run_id": "run-1",
        "spec_name": "breast-cancer-classifier",
        "spec_version": "1.0.0",
        "metrics": {},
    }
    assert (
        promote_after_gates(uri, "scorer", scale_model, gate_reports=[blocked], **arguments) is None
    )
    registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert registry.search_model_versions("name = 'scorer'") == []
    assert (
        promote_after_gates(uri, "scorer", scale_model, gate_reports=[passed], **arguments) == "1"
    )


def test_without_uv_venv_and_pip_build_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No uv on PATH (and none importable in this environment): `python -m venv` and pip."""
    import importlib.util
    import shutil

    assert importlib.util.find_spec("uv") is None  # else uv would still be chosen
    while shutil.which("uv"):
        folder = str(Path(shutil.which("uv") or "").parent)
        paths = os.environ["PATH"].split(os.pathsep)
        monkeypatch.setenv("PATH", os.pathsep.join(p for p in paths if p != folder))
    monkeypatch.setenv("MLSPEC_SERVING_CACHE", str(tmp_path))
    said: list[str] = []
    python = serving.ensure_environment("command", ["six"], said.append)
    assert any("Successfully installed six" in line for line in said), said
    subprocess.run([python, "-c", "import six"], check=True)
