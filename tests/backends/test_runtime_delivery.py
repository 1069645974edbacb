"""How generated pipelines carry mlspec's runtime: as files, so tracebacks show real lines.

A failing gate on every target: the flagship's data gate where its report cannot be written
(the artifact root, or the report path, lies under /dev/null, a file). The traceback must name
the runtime module's file, as shipped beside the pipeline or written by the KFP component, and
show the source line (`linecache` reads it from that file), never `<mlspec-runtime>`.

Also: the Airflow dag processor (DagBag, safe mode off) reads the DAG and skips the runtime's
modules; a KFP pipeline holds the runtime once, with only the modules its gates need; its
condition blocks are named after their gate.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import traceback
import types
from pathlib import Path

import pytest
import yaml
from support import airflow_env

from mlspec.backends.airflow import AirflowBackend
from mlspec.backends.base import Artifact
from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.backends.kubeflow import runtime as kfp_runtime
from mlspec.backends.prefect import PrefectBackend
from mlspec.compiler import analyze_file
from mlspec.runtime import embed

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
DATA_GATES_ONLY = ROOT / "specs" / "valid" / "data-gates.yaml"
UNWRITABLE = "/dev/null/mlspec"  # below a file: creating anything there fails
# A frame in a runtime module: its real file, then the line of source that linecache read.
FRAME = re.compile(
    r'File "(?P<file>[^"]*/' + embed.PACKAGE_PREFIX + r'[0-9a-f]+/(?P<module>\w+)\.py)", '
    r"line \d+, in \w+\n    (?P<source>\S[^\n]*)"
)


def write(artifacts: list[Artifact], folder: Path) -> None:
    for artifact in artifacts:
        path = folder / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(artifact.text, encoding="utf-8")


def runtime_frames(text: str) -> dict[str, str]:
    """module -> its source line, for each runtime frame of a formatted traceback."""
    assert "<mlspec-runtime>" not in text
    found = {m["module"]: m["source"] for m in FRAME.finditer(text)}
    for match in FRAME.finditer(text):
        assert Path(match["file"]).is_file(), match["file"]
    return found


def emit(backend: AirflowBackend | PrefectBackend | KubeflowBackend, spec: Path) -> list[Artifact]:
    return backend.emit(analyze_file(spec).pipeline)


def test_prefect_a_failing_gate_shows_the_runtime_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(emit(PrefectBackend(), FLAGSHIP), tmp_path)
    spec = importlib.util.spec_from_file_location(
        "flagship_flow", tmp_path / "breast_cancer_classifier.py"
    )
    assert spec is not None and spec.loader is not None
    flow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(flow)
    monkeypatch.setenv("MLSPEC_ARTIFACT_ROOT", UNWRITABLE)
    with pytest.raises(NotADirectoryError) as failed:
        flow._mlspec_gate.fn("data_quality", "run-1", {}, {})
    frames = runtime_frames("".join(traceback.format_exception(failed.value)))
    assert frames["tasks"] == "os.makedirs(os.path.dirname(path), exist_ok=True)"


AIRFLOW_SCRIPT = """
import importlib.util, json, sys, traceback
from airflow.dag_processing.dagbag import DagBag

folder = sys.argv[1]
bag = DagBag(dag_folder=folder, safe_mode=False, known_pools={"default_pool"})
path = folder + "/breast_cancer_classifier.py"
spec = importlib.util.spec_from_file_location("flagship_dag", path)
dag = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dag)
try:
    dag._mlspec_gate(gate="data_quality", run_id="run-1", params={}, ti=None)
    failure = ""
except NotADirectoryError as exc:
    failure = "".join(traceback.format_exception(exc))
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "failure": failure,
}))
"""


@pytest.mark.slow
def test_airflow_a_failing_gate_shows_the_runtime_file_and_line(tmp_path: Path) -> None:
    """In Airflow's environment: the dag processor's DagBag (safe mode off, so every *.py file
    is a candidate) finds the DAG and no import error in the runtime package; the DAG's gate
    fails with the runtime's file and line."""
    python = airflow_env.environment()
    dags = tmp_path / "dags"
    write(emit(AirflowBackend(), FLAGSHIP), dags)
    env = airflow_env.base_env(tmp_path / "home") | {"MLSPEC_ARTIFACT_ROOT": UNWRITABLE}
    print(f"starting: DagBag and a gate of the flagship in the Airflow environment ({dags})")
    done = subprocess.run(
        [str(python), "-c", AIRFLOW_SCRIPT, str(dags)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["dags"] == ["breast-cancer-classifier"]
    assert result["errors"] == {}
    frames = runtime_frames(result["failure"])
    assert frames["tasks"] == "os.makedirs(os.path.dirname(path), exist_ok=True)"


def kfp_ir(spec: Path) -> dict:
    """The spec's KFP IR with the runtime embedded as texts: as without `code.wheels` (the
    flagship's runtime otherwise rides a pinned wheel, test_kubeflow_runtime_wheel.py)."""
    pipeline = dataclasses.replace(analyze_file(spec).pipeline, runtime_wheels=None)
    [text] = [a.text for a in KubeflowBackend().emit(pipeline) if a.path.endswith(".kfp.yaml")]
    return next(yaml.safe_load_all(text))  # the pipeline spec; then the platform spec


def shared_module(ir: dict) -> str:
    executor = ir["deploymentSpec"]["executors"][kfp_runtime.EXECUTOR]
    return str(executor["container"]["command"][-1])


def test_kubeflow_a_failing_gate_shows_the_runtime_file_and_line(tmp_path: Path) -> None:
    """The gate function of the shared module as kfp's executor runs it: the module written to
    a file (as the component's command does), imported, the function called."""
    path = tmp_path / "ephemeral_component.py"
    path.write_text(shared_module(kfp_ir(FLAGSHIP)), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ephemeral_component", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dataset = types.SimpleNamespace(path=str(tmp_path / "missing.csv"))
    report = types.SimpleNamespace(path=f"{UNWRITABLE}/report")
    with pytest.raises(NotADirectoryError) as failed:
        module.data_quality(dataset=dataset, reference_0=dataset, tracking_run="", report=report)
    frames = runtime_frames("".join(traceback.format_exception(failed.value)))
    assert frames["report"] == "with open(path, 'w', encoding='utf-8') as handle:"  # compact
    assert set(frames) == {"steps", "report"}


def test_kubeflow_pipeline_holds_the_runtime_once_with_the_modules_its_gates_need() -> None:
    ir = kfp_ir(FLAGSHIP)
    executors = ir["deploymentSpec"]["executors"]
    users = sorted(
        name
        for name, c in ir["components"].items()
        if c.get("executorLabel") == kfp_runtime.EXECUTOR
    )
    assert users == [
        "comp-data-quality",
        "comp-mlspec-close",
        "comp-mlspec-lineage",
        "comp-mlspec-track",
        "comp-model-quality",
        "comp-promote-challenger",
        "comp-servable",
    ]
    assert sum("_MLSPEC_FILES" in json.dumps(e) for e in executors.values()) == 1
    for name in users:  # each task says which function of the module it runs
        entry = ir["components"][name]["inputDefinitions"]["parameters"]["mlspec_function"]
        assert entry["defaultValue"] == name.removeprefix("comp-").replace("-", "_")

    def files(module: str) -> list[str]:
        return sorted(re.findall(r"^    '(\w+\.py)': '''", module, re.M))

    assert files(shared_module(ir)) == [
        "__init__.py",
        "datachecks.py",
        "gates.py",
        "lineage.py",
        "registry.py",
        "report.py",
        "serving.py",
        "steps.py",
    ]
    # Data gates alone: no registry, no model-gate code.
    assert files(shared_module(kfp_ir(DATA_GATES_ONLY))) == [
        "__init__.py",
        "datachecks.py",
        "report.py",
        "steps.py",
    ]


def test_kubeflow_condition_blocks_are_named_after_their_gate() -> None:
    ir = kfp_ir(FLAGSHIP)

    def names(component: dict) -> list[str]:
        return [t["taskInfo"]["name"] for t in component.get("dag", {}).get("tasks", {}).values()]

    shown = [n for c in [ir["root"], *ir["components"].values()] for n in names(c)]
    assert {"data_quality passed", "model_quality passed"} <= set(shown)
    assert not [n for n in shown if n.startswith("condition-")]


def test_the_runtime_package_is_written_once_per_content(tmp_path: Path) -> None:
    """Two pipelines in one folder share the package only when its files are the same."""
    airflow = emit(AirflowBackend(), FLAGSHIP)
    prefect = emit(PrefectBackend(), FLAGSHIP)
    folders = {
        a.path.split("/")[0]
        for a in [*airflow, *prefect]
        if a.path.startswith(embed.PACKAGE_PREFIX)
    }
    assert len(folders) == 1  # the same modules: the same name, the same bytes
    kubeflow = shared_module(kfp_ir(FLAGSHIP))
    assert folders.pop() not in kubeflow  # compact modules: another name
