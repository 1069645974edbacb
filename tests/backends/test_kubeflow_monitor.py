"""Monitors on the kubeflow target (issue 20), and the training data a promotion records.

The IR is read with kfp's own loader and protobufs (support/kfp_ir.py); the monitor runs under
kfp's local runner (SubprocessRunner) against a real SQLite MLflow registry.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kfp import components
from support import generated, kfp_exec, serving
from support.engines import MODEL, mlspec_run
from support.kfp_ir import validate

from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.backends.taskdata import monitor_data
from mlspec.cli import main
from mlspec.compiler import analyze_file

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
BACKEND = KubeflowBackend()


def emit(spec: Path) -> str:
    pipeline = analyze_file(spec).pipeline
    assert pipeline is not None
    assert [p for p in BACKEND.check(pipeline) if p.severity == "error"] == []
    [artifact] = generated.without_rollout(BACKEND.emit(pipeline))
    return artifact.text


def tasks(dag: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Every task of a DAG, those in condition blocks too, by name."""
    found: dict[str, Any] = {}
    for name, task in dag["tasks"].items():
        found[name] = task
        inner = components[task["componentRef"]["name"]]
        if "dag" in inner:
            found.update(tasks(inner["dag"], components))
    return found


def test_the_promotion_takes_the_training_data_as_an_input_artifact() -> None:
    """registry.reference: ingest.train reaches the promotion component as a Dataset, whose
    path the runtime's promotion records (tag mlspec.reference)."""
    text = emit(FLAGSHIP)
    [spec, _] = validate(text)
    assert components.load_component_from_text(text).name == "breast-cancer-classifier"
    inputs = spec["components"]["comp-promote-challenger"]["inputDefinitions"]["artifacts"]
    assert inputs["reference"]["artifactType"]["schemaTitle"] == "system.Dataset"
    task = tasks(spec["root"]["dag"], spec["components"])["promote-challenger"]
    channel = task["inputs"]["artifacts"]["reference"]["componentInputArtifact"]
    assert channel == "pipelinechannel--ingest-train"  # ingest's train, through the gates' blocks
    assert "reference_path=reference.path," in text


# --- a Monitor spec ---------------------------------------------------------------------------

MONITOR = FLAGSHIP.parent / "monitor.yaml"
NAME = "breast-cancer-monitor"


def monitor_copy(folder: Path, *replacements: tuple[str, str]) -> Path:
    """The flagship's folder with its monitor's text replaced."""
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = folder / MONITOR.name
    text = spec.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    spec.write_text(text, encoding="utf-8")
    return spec


def runtime_executor(spec: dict[str, Any]) -> dict[str, Any]:
    label = spec["components"]["comp-monitor"]["executorLabel"]
    return spec["deploymentSpec"]["executors"][label]["container"]


def test_a_monitor_compiles_to_one_monitor_task_that_kfp_loads() -> None:
    text = emit(MONITOR)
    [spec, platform] = validate(text)  # kfp's protobufs, unknown fields rejected
    assert components.load_component_from_text(text).name == NAME
    assert spec["pipelineInfo"]["name"] == NAME
    found = tasks(spec["root"]["dag"], spec["components"])
    assert set(found) == {"exit-handler-1", "monitor", "mlspec-outcome"}  # + the run's outcome
    monitor = found["monitor"]
    assert monitor["cachingOptions"] == {}  # it reads live state: never cached
    assert monitor["inputs"]["parameters"]["run_id"]["runtimeValue"]["constant"] == (
        "{{$.pipeline_job_uuid}}"
    )
    entry = spec["components"]["comp-monitor"]["inputDefinitions"]["parameters"]["mlspec_function"]
    assert entry["defaultValue"] == "monitor"  # the function the shared executor runs
    outputs = spec["components"]["comp-monitor"]["outputDefinitions"]
    assert outputs["parameters"] == {"breached": {"parameterType": "BOOLEAN"}}
    assert outputs["artifacts"]["report"]["artifactType"]["schemaTitle"] == "system.Artifact"
    # defaults: image and resources as a Python step gets them; mlflow for the registry
    container = runtime_executor(spec)
    assert container["image"] == "python:3.11-slim"
    resources = container["resources"]
    assert (resources["resourceCpuLimit"], resources["resourceMemoryLimit"]) == ("500m", "1Gi")
    assert "'mlflow-skinny>=3.17,<3.18'" in container["command"][2]
    pods = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert pods["exec-mlspec-runtime"]["podMetadata"]["labels"]["tier"] == "critical"


def call_config(program: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The monitor function's call of run_monitor: its config (a literal) and its keywords."""
    function = next(
        n for n in ast.parse(program).body if isinstance(n, ast.FunctionDef) and n.name == "monitor"
    )
    call = next(
        n
        for n in ast.walk(function)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "run_monitor"
    )
    return ast.literal_eval(call.args[0]), {k.arg: ast.unparse(k.value) for k in call.keywords}


def test_the_monitor_passes_its_spec_as_data_through_kfps_placeholders(tmp_path: Path) -> None:
    """What run_monitor gets, after kfp's own placeholder substitution, is exactly
    taskdata.monitor_data: spec text (here quotes and a backslash in a path) stays text."""
    odd = '/data/serving/it\'s "odd" \\ x/inputs'
    spec = monitor_copy(
        tmp_path / "bc",
        ("{path: /data/serving/breast-cancer/inputs,", f"{{path: {json.dumps(odd)},"),
    )
    pipeline = analyze_file(spec).pipeline
    assert pipeline is not None
    text = emit(spec)
    [executor] = [e for e in kfp_exec.executors(text) if e.task == "monitor"]
    values = kfp_exec.executor_input(executor, "run-1", str(tmp_path / "root"))
    argv = kfp_exec.resolve(executor, values, str(tmp_path / "root"))
    # sh -c INSTALL sh -ec RUNNER PROGRAM --executor_input .. --function_to_execute ..
    config, keywords = call_config(argv[-5])
    assert config == monitor_data(pipeline)
    assert config["inputs"]["path"] == odd
    assert keywords == {
        "run_id": "run_id",
        "tracking_uri": "os.environ.get('MLFLOW_TRACKING_URI')",
        "report_path": "report.path",
    }


def test_a_monitor_takes_its_settings_from_defaults_and_its_registry_from_the_pipeline(
    tmp_path: Path,
) -> None:
    spec = monitor_copy(
        tmp_path / "bc",
        (
            "  image: python:3.11-slim\n",
            "  image: ghcr.io/acme/monitor:1.0\n  packages: [pyarrow>=15]\n"
            "  retries: 2\n  timeout: 10m\n",
        ),
    )
    pipeline_spec = spec.parent / "pipeline.yaml"
    text = pipeline_spec.read_text(encoding="utf-8")
    old = "mlflow: {registered_model: breast-cancer-classifier}"
    assert text.count(old) == 1
    pipeline_spec.write_text(
        text.replace(old, old[:-1] + ", tracking_uri: 'sqlite:////srv/mlflow.db'}"),
        encoding="utf-8",
    )
    [spec_doc, platform] = validate(emit(spec))
    container = runtime_executor(spec_doc)
    assert container["image"] == "ghcr.io/acme/monitor:1.0"
    install = container["command"][2]
    assert "'pyarrow>=15'" in install and "'mlflow-skinny>=3.17,<3.18'" in install
    assert "'sqlalchemy>=2'" in install  # a SQLite registry: MLflow's SQL store
    _, keywords = call_config(container["command"][-1])
    assert keywords["tracking_uri"] == "'sqlite:////srv/mlflow.db'"
    task = tasks(spec_doc["root"]["dag"], spec_doc["components"])["monitor"]
    assert task["retryPolicy"]["maxRetryCount"] == 2
    pods = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert pods["exec-mlspec-runtime"]["activeDeadlineSeconds"] == "600"


def test_spec_text_that_kfp_would_substitute_is_ms301_in_a_monitor(tmp_path: Path) -> None:
    spec = monitor_copy(
        tmp_path / "bc",
        (
            "null_fraction: {column: mean_radius,",
            'null_fraction: {column: "{{$.pipeline_root}}",',
        ),
    )
    pipeline = analyze_file(spec).pipeline
    assert pipeline is not None
    [found] = [d for d in BACKEND.check(pipeline) if d.code == "MS301"]
    assert (found.span.line, "{{$.pipeline_root}}" in found.message) == (29, True)


def test_a_monitor_trigger_is_ms301_at_its_line_with_the_alternative(tmp_path: Path) -> None:
    shutil.copytree(FLAGSHIP.parent, tmp_path / "bc", ignore=shutil.ignore_patterns("__pycache__"))
    spec = tmp_path / "bc" / FLAGSHIP.name
    text = spec.read_text(encoding="utf-8")
    schedule = 'schedule: {cron: "0 3 * * 1", timezone: Europe/Berlin}\n'
    assert text.count(schedule) == 1
    text = text.replace(schedule, schedule + f"triggers:\n  - monitor: {{name: {NAME}}}\n")
    spec.write_text(text, encoding="utf-8")
    line = text.splitlines().index(f"  - monitor: {{name: {NAME}}}") + 1
    pipeline = analyze_file(spec).pipeline
    assert pipeline is not None
    [found] = [d for d in BACKEND.check(pipeline) if d.severity == "error"]
    assert (found.code, found.span.line, found.span.col) == ("MS301", line, 5)
    assert f"when monitor {NAME!r} raises its alarm" in found.message
    assert "`breached`" in found.hint and "airflow and prefect have this trigger" in found.hint
    result = CliRunner().invoke(
        main, ["compile", str(spec), "--target", "kubeflow", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


# --- under kfp's local runner -----------------------------------------------------------------


def champion_with_training_data(state: Path, folder: Path) -> str:
    """The state folder's SQLite registry with version 1 of the flagship's model as champion,
    recording its training data (tag mlspec.reference) as a promotion of the flagship does."""
    from mlspec.run.local_registry import start_registered_model
    from mlspec.runtime.registry import promote, register_model_version

    uri = f"sqlite:///{state / 'registry.db'}"
    state.mkdir(parents=True)
    start_registered_model(uri, MODEL)
    model = folder / "model.pkl"
    model.write_bytes(b"a model")
    version = register_model_version(
        uri,
        MODEL,
        str(model),
        run_id="train-1",
        spec_name=MODEL,
        spec_version="1.0.0",
        gate_reports=[],
        metrics={},
        reference_path=serving.training_data(folder / "train.csv"),
    )
    promote(uri, MODEL, version, "champion", [])
    return uri


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
@pytest.mark.parametrize("drifted", [True, False], ids=["drifted", "clean"])
def test_the_monitor_runs_under_kfps_local_runner(tmp_path: Path, drifted: bool) -> None:
    """`mlspec run MONITOR --target kubeflow`: kfp's SubprocessRunner runs the task `monitor`
    against the run's SQLite registry. Drifted inputs: `breached` is True, the report says why
    and the champion is tagged; clean inputs: False, and nothing is tagged."""
    from mlflow import MlflowClient

    served = tmp_path / "serving"
    spec = monitor_copy(
        tmp_path / "bc",
        ("/data/serving/breast-cancer/inputs", str(served / "inputs")),
        ("/data/serving/breast-cancer/feedback", str(served / "feedback")),
    )
    serving.served_inputs(served / "inputs", drifted=drifted)
    state = tmp_path / "state"
    uri = champion_with_training_data(state, tmp_path)
    code, summary, output = mlspec_run(state, str(spec), "--target", "kubeflow")
    assert code == 0 and summary is not None, output[-6000:]
    assert summary["tasks"]["monitor"] == "success"
    assert f"breached: {drifted}" in output  # kfp.local's log of the task's outputs
    [report_file] = Path(summary["run_folder"]).glob("artifacts/*/monitor/report")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert (report["monitor"], report["version"]) == (NAME, "1")
    assert report["breached"] == (["checks"] if drifted else [])
    failed = {c["subject"] for c in report["checks"]["checks"] if not c["passed"]}
    assert failed == ({"mean_texture", "worst_area"} if drifted else set())
    assert report["feedback_note"].startswith("no labelled feedback yet")
    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(MODEL, "1").tags
    tag = tags.get(f"mlspec.monitor.{NAME}")
    if drifted:
        assert tag is not None and "drift mean_texture" in tag
    else:
        assert tag is None
    assert summary["promoted"] == {}  # no rollback: the spec rolls back on feedback only
