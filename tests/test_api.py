"""The library API (`import mlspec`) and the compile facade that every command goes through."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlspec
from mlspec.api import compile_pipeline
from mlspec.cli import main
from mlspec.compiler.passes import PassError
from mlspec.run.engines import EngineRun, EngineUnavailable, RunRequest
from mlspec.run.state import RunState

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
# Valid, but Python steps with a Kubernetes secret in their environment: prefect refuses it.
SECRETS = ROOT / "specs" / "valid" / "env-secrets.yaml"


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_documented_example_runs() -> None:
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    lines = _python(example).splitlines()
    assert lines[-4:-1] == [
        "['breast_cancer_classifier.py']",
        "breast-cancer-classifier",
        "MS201 did you mean 'train'?",
    ]
    assert json.loads(lines[-1].replace("'", '"')) == list(mlspec.targets())


def test_importing_mlspec_imports_nothing_else() -> None:
    probe = (
        "import sys, json, mlspec\n"
        "before = sorted(m for m in sys.modules if m.startswith(('mlspec', 'pydantic', 'yaml')))\n"
        "mlspec.Diagnostic\n"
        "after = sorted(m for m in sys.modules if m.startswith(('mlspec', 'pydantic', 'yaml')))\n"
        "print(json.dumps([before, after, mlspec.__version__]))"
    )
    before, after, version = json.loads(_python(probe))
    assert before == ["mlspec"]
    assert after == ["mlspec", "mlspec.diagnostics"]
    assert version == mlspec.__version__


def test_every_public_name_is_there() -> None:
    for name in mlspec.__all__:
        assert getattr(mlspec, name) is not None
    with pytest.raises(AttributeError):
        mlspec.compile  # noqa: B018 (not a name of the API)


@pytest.mark.parametrize("target", list(mlspec.targets()))
def test_the_facade_generates_what_compile_writes(tmp_path: Path, target: str) -> None:
    compiled = mlspec.compile_pipeline(FLAGSHIP, target)
    assert compiled.ok and compiled.pipeline is not None
    result = CliRunner().invoke(main, ["compile", str(FLAGSHIP), "-t", target, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {
        p.relative_to(tmp_path).as_posix(): p.read_text(encoding="utf-8")
        for p in tmp_path.rglob("*")
        if p.is_file() and not p.name.startswith(".mlspec")
    }
    assert {a.path: a.text for a in compiled.artifacts} == written


def test_spec_errors_are_diagnostics_not_exceptions() -> None:
    compiled = compile_pipeline(ROOT / "specs" / "invalid" / "MS201-unknown-step.yaml", "ir")
    assert not compiled.ok
    assert compiled.pipeline is None and compiled.artifacts == ()
    assert [d.code for d in compiled.diagnostics] == ["MS201"]
    with pytest.raises(mlspec.SpecError) as raised:
        mlspec.analyze(ROOT / "specs" / "invalid" / "MS201-unknown-step.yaml")
    assert raised.value.diagnostics == list(compiled.diagnostics)


def test_target_errors_stop_the_emit() -> None:
    compiled = compile_pipeline(SECRETS, "prefect")
    assert not compiled.ok and compiled.artifacts == ()
    assert compiled.pipeline is not None
    assert {d.code for d in compiled.diagnostics if d.severity == "error"} == {"MS301"}
    assert compile_pipeline(SECRETS, "kubeflow", emit=False).ok is False
    assert compile_pipeline(SECRETS, "ir").ok


def test_the_model_pin_is_a_pass_of_the_facade() -> None:
    pinned = compile_pipeline(FLAGSHIP, "rollout", model_version="7")
    assert pinned.pipeline is not None and pinned.pipeline.rollout is not None
    assert pinned.pipeline.rollout.model_version == "7"
    assert any("models:/breast-cancer-classifier/7" in a.text for a in pinned.artifacts)
    with pytest.raises(PassError, match="registry versions are numbers"):
        compile_pipeline(FLAGSHIP, "rollout", model_version="seven")
    with pytest.raises(PassError, match="apply to specs with a rollout"):
        compile_pipeline(SECRETS, "ir", model_version="7")


def test_an_unknown_target_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="unknown target 'dagster'"):
        compile_pipeline(FLAGSHIP, "dagster")


def test_a_local_run_writes_only_what_the_target_accepts(tmp_path: Path) -> None:
    # `mlspec run` emitted the engine's files without the target's checks; now they go
    # through the facade, and a pipeline the target refuses is refused before any file.
    request = RunRequest(
        mlspec.analyze(SECRETS).pipeline, SECRETS, "prefect", {}, echo=lambda line: None
    )
    run = EngineRun(request, RunState(tmp_path, tmp_path / "runs" / "0001-prefect"))
    with pytest.raises(EngineUnavailable, match="Kubernetes secret"):
        run.write(tmp_path / "flow")
    assert not (tmp_path / "flow").exists()
    flagship = RunRequest(mlspec.analyze(FLAGSHIP).pipeline, FLAGSHIP, "prefect", {}, print)
    EngineRun(flagship, run.state).write(tmp_path / "flow")
    flow, code, runtime, prefect_yaml = sorted(p.name for p in (tmp_path / "flow").iterdir())
    assert (flow, prefect_yaml) == ("breast_cancer_classifier.py", "prefect.yaml")
    assert runtime.startswith("mlspec_runtime_")  # the package the flow loads; no manifests
    assert code.startswith("mlspec_code_")  # and the pinned step package
