"""Lineage on Kubeflow (issue #22): a pipeline with a registry opens, records and closes one
MLflow run per pipeline run through three tasks of mlspec's own.

The IR tests read the compiled file with the strict validator (protobuf messages, every
reference). The slow test runs a small spec through `mlspec run --target kubeflow` (kfp's
local SubprocessRunner, src/mlspec/run/kubeflow_driver.py) against the run's SQLite MLflow
store and reads the run that MLflow holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engines import mlspec_run
from support.kfp_ir import validate

from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.backends.kubeflow.runtime import EXECUTOR
from mlspec.backends.kubeflow.runtime_wheel import entries
from mlspec.compiler import analyze_file, analyze_text
from mlspec.compiler.passes import localize
from mlspec.runtime import embed

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
BACKEND = KubeflowBackend()
JOB_ID = "{{$.pipeline_job_uuid}}"
TRACK_OUTPUT = {"outputParameterKey": "Output", "producerTask": "mlspec-track"}


def compiled(pipeline: object) -> dict:
    problems = [p for p in BACKEND.check(pipeline) if p.severity == "error"]  # type: ignore[arg-type]
    assert problems == []
    [text] = [a.text for a in BACKEND.emit(pipeline) if a.path.endswith(".kfp.yaml")]  # type: ignore[arg-type]
    return validate(text)[0]


def dags(spec: dict) -> dict[str, dict]:
    """Each DAG's tasks by the DAG's component ("root" for the pipeline's own)."""
    found = {"root": spec["root"]["dag"]["tasks"]}
    found |= {n: c["dag"]["tasks"] for n, c in spec["components"].items() if "dag" in c}
    return found


def where(spec: dict, task: str) -> str:
    [dag] = [name for name, tasks in dags(spec).items() if task in tasks]
    return dag


def task(spec: dict, name: str) -> dict:
    return dags(spec)[where(spec, name)][name]


def tracking_source(spec: dict, name: str) -> dict:
    """Where a task's `tracking_run` comes from: mlspec_track's output, followed through the
    condition blocks' inputs."""
    value = task(spec, name)["inputs"]["parameters"]["tracking_run"]
    dag = where(spec, name)
    while "componentInputParameter" in value:
        parent = next(
            n
            for n, tasks in dags(spec).items()
            if any(t["componentRef"]["name"] == dag for t in tasks.values())
        )
        [holder] = [t for t in dags(spec)[parent].values() if t["componentRef"]["name"] == dag]
        value, dag = holder["inputs"]["parameters"][value["componentInputParameter"]], parent
    return value["taskOutputParameter"]


def test_the_flagship_opens_records_and_closes_its_run() -> None:
    pipeline = analyze_file(FLAGSHIP).pipeline
    assert [d for d in BACKEND.check(pipeline) if "records no outputs" in d.message] == []
    spec = compiled(pipeline)
    # The exit handler's task closes the run: it takes no task's output, only the job's id and
    # the final status of everything inside the handler.
    assert set(spec["root"]["dag"]["tasks"]) == {"exit-handler-1", "mlspec-close"}
    close = task(spec, "mlspec-close")
    assert close["inputs"]["parameters"] == {
        "run_id": {"runtimeValue": {"constant": JOB_ID}},
        "status": {"taskFinalStatus": {"producerTask": "exit-handler-1"}},
    }
    assert close["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    # mlspec_track opens it before any step, with the id the promotion records as its run id.
    body = dags(spec)["comp-exit-handler-1"]
    assert "dependentTasks" not in body["mlspec-track"]
    assert body["ingest"]["dependentTasks"] == ["mlspec-track"]
    track = body["mlspec-track"]["inputs"]["parameters"]
    promote = task(spec, "promote-challenger")["inputs"]["parameters"]
    assert track["run_id"] == promote["run_id"] == {"runtimeValue": {"constant": JOB_ID}}
    assert {k for k in track if k.startswith("param_")} == {
        f"param_{p.name}" for p in pipeline.params
    }
    for name in ("data-quality", "model-quality", "servable", "promote-challenger"):
        assert tracking_source(spec, name) == TRACK_OUTPUT, name
    # mlspec_lineage reads every step: the innermost block of the steps (train and evaluate run
    # once data_quality passed), every scalar output and every dataset.
    assert where(spec, "mlspec-lineage") == "comp-condition-2"
    lineage = task(spec, "mlspec-lineage")["inputs"]
    assert tracking_source(spec, "mlspec-lineage") == TRACK_OUTPUT
    assert sorted(lineage["artifacts"]) == ["dataset_0", "dataset_1", "dataset_2"]
    assert sorted(k for k in lineage["parameters"] if k.startswith("output_")) == [
        "output_0",
        "output_1",
    ]
    # They run the gates' shared module; the runtime wheel holds the lineage module.
    module = spec["deploymentSpec"]["executors"][EXECUTOR]["container"]["command"][-1]
    for name in ("mlspec_track", "mlspec_lineage", "mlspec_close"):
        assert spec["components"][f"comp-{name.replace('_', '-')}"]["executorLabel"] == EXECUTOR
        assert module.count(f"\ndef {name}(") == 1
    # The data gate records the datasets it read, after its report, at its inputs' paths.
    assert "_mlspec_runtime('lineage').record_gate(" in module
    assert "[{'name': 'ingest.train', 'path': dataset.path, " in module
    assert "'by': {'by': 'pipeline', 'pipeline_run': run_id}" in module
    assert "lineage" in embed.needed_modules(entries(pipeline))


def test_without_a_registry_nothing_is_tracked() -> None:
    pipeline = analyze_file(ROOT / "specs" / "valid" / "data-gates.yaml").pipeline
    assert pipeline.registry is None
    spec = compiled(pipeline)
    assert set(spec["root"]["dag"]["tasks"]) == {"exit-handler-1", "mlspec-outcome"}
    assert [c for c in spec["components"] if c.startswith("comp-mlspec-")] == [
        "comp-mlspec-outcome"
    ]
    module = spec["deploymentSpec"]["executors"][EXECUTOR]["container"]["command"][-1]
    functions = module[module.index("\ndef _mlspec_verdict(") :]  # after the runtime's text
    for name in ("def mlspec_", "tracking_run", "tracking="):
        assert name not in functions
    assert not [e for e in entries(pipeline) if e.startswith("lineage:")]


APART = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: apart, version: 1.0.0}
defaults: {packages: [demo]}
steps:
  prep:
    python: demo:prep
    outputs: {data: dataset, model: model, rows: int}
  left:
    python: demo:left
    inputs: {data: prep.data}
    outputs: {x: float}
    after: [g1]
  right:
    python: demo:right
    inputs: {data: prep.data}
    outputs: {y: float}
    after: [g2]
gates:
  g1:
    dataset: prep.data
    checks: [{row_count: {min: 1}}]
  g2:
    dataset: prep.data
    checks: [{row_count: {min: 2}}]
registry:
  mlflow: {registered_model: apart}
  model: prep.model
  promote: [{alias: challenger, after: [g1]}]
"""


def test_steps_in_blocks_that_do_not_nest_leave_lineage_the_steps_outside_them() -> None:
    """left runs once g1 passed, right once g2 passed: no KFP task sees both. mlspec_lineage
    reads the steps outside every block instead of making the spec fail to compile."""
    pipeline = analyze_text(APART, "apart.yaml").pipeline
    warnings = [(d.code, d.span.line, d.span.col) for d in BACKEND.check(pipeline)]
    assert warnings == [("MS302", 9, 3), ("MS302", 14, 3)]  # left, right: not recorded
    [left, _] = BACKEND.check(pipeline)
    assert (
        "records no outputs of step 'left'" in left.message and "under the gates g1" in left.message
    )
    spec = compiled(pipeline)
    assert where(spec, "left") != where(spec, "right")
    assert where(spec, "mlspec-lineage") == "comp-exit-handler-1"
    lineage = task(spec, "mlspec-lineage")["inputs"]
    assert lineage["artifacts"] == {
        "dataset_0": {"taskOutputArtifact": {"outputArtifactKey": "data", "producerTask": "prep"}}
    }
    assert lineage["parameters"]["output_0"] == {
        "taskOutputParameter": {"outputParameterKey": "rows", "producerTask": "prep"}
    }


# -- kfp's local runner, a real SQLite MLflow store ------------------------------------------

STEPS = """\
import csv


def ingest(rows, train):
    with open(train, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["x", "label"])
        for i in range(rows):
            out.writerow([i / 10, i % 2])
    return {"source": "generated"}


def fit(train, fail, model):
    if fail:
        raise RuntimeError("fit was told to fail")
    with open(train, encoding="utf-8") as handle:
        count = sum(1 for _ in handle) - 1
    with open(model, "w", encoding="utf-8") as handle:
        handle.write(f"rows={count}")
    return {"auc": 0.5 + count / 100}
"""

SMALL = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: tracked-small, version: 2.1.0}
defaults: {image: "localhost/tracked-small:1"}  # has the steps' code (kfp.local runs no image)
params:
  rows: {type: int, default: 20}
  floor: {type: float, default: 0.6}
  fail: {type: bool, default: false}
steps:
  ingest:
    python: small_steps:ingest
    inputs: {rows: params.rows}
    outputs: {train: dataset, source: str}
  fit:
    python: small_steps:fit
    inputs: {train: ingest.train, fail: params.fail}
    outputs: {model: model, auc: float}
    after: [enough]
gates:
  enough:
    dataset: ingest.train
    checks: [{row_count: {min: 10}}]
  quality:
    require: [{metric: fit.auc, min: params.floor}]
registry:
  mlflow: {registered_model: tracked-small}
  model: fit.model
  promote: [{alias: challenger, after: [enough, quality]}]
"""


def _small_run(folder: Path, *params: str) -> tuple[dict, object, str]:
    """`mlspec run` of SMALL with `params`: (summary, the MLflow run, the client's URI)."""
    from mlflow import MlflowClient

    folder.mkdir()
    spec = folder / "pipeline.yaml"
    spec.write_text(SMALL, encoding="utf-8")
    (folder / "small_steps.py").write_text(STEPS, encoding="utf-8")
    args = [a for p in params for a in ("--param", p)]
    _, summary, output = mlspec_run(folder / "state", str(spec), "--target", "kubeflow", *args)
    assert summary is not None, output[-6000:]
    uri = f"sqlite:///{folder / 'state' / 'registry.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "tracked-small"]
    [run] = client.search_runs([experiment.experiment_id])
    return summary, run, uri


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_local_kfp_run_is_one_mlflow_run_that_the_promoted_version_points_to(
    tmp_path: Path,
) -> None:
    import hashlib

    from mlflow import MlflowClient

    summary, run, uri = _small_run(tmp_path / "passed")
    assert summary["outcome"] == "passed" and summary["promoted"] == {"challenger": "1"}
    data, tags = run.data, run.data.tags
    assert run.info.status == "FINISHED"
    assert data.params == {"rows": "20", "floor": "0.6", "fail": "false"}
    assert data.metrics == {"fit.auc": pytest.approx(0.7)}
    assert tags["mlspec.output.ingest.source"] == "generated"
    assert tags["mlspec.engine"] == "kubeflow"
    assert tags["mlspec.engine_run_id"] == tags["mlspec.pipeline_run"] != ""
    assert tags["mlspec.spec"] == "tracked-small" and tags["mlspec.spec_version"] == "2.1.0"
    spec_text = (tmp_path / "passed" / "pipeline.yaml").read_bytes()
    assert tags["mlspec.spec_sha256"] == hashlib.sha256(spec_text).hexdigest()
    assert tags["mlspec.gate.enough"] == tags["mlspec.gate.quality"] == "passed"
    assert tags["mlspec.lineage"] == "recorded"
    assert tags["mlspec.promoted.challenger"] == "1"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    reports = sorted(a.path for a in client.list_artifacts(run.info.run_id, "gates"))
    assert reports == ["gates/enough.json", "gates/quality.json"]
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == "ingest.train"
    assert {t.key: t.value for t in dataset.tags} == {"mlflow.data.context": "enough,fit"}
    rows = "x,label\r\n" + "".join(f"{i / 10},{i % 2}\r\n" for i in range(20))  # csv's ends
    digest = hashlib.sha256(rows.encode()).hexdigest()
    assert dataset.dataset.digest == digest[:32]
    version = client.get_model_version("tracked-small", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["mlspec.tracking_run"] == run.info.run_id
    assert version.tags["mlspec.run_id"] == tags["mlspec.pipeline_run"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_blocked_local_kfp_run_finishes_its_mlflow_run(tmp_path: Path) -> None:
    summary, run, _ = _small_run(tmp_path / "blocked", "floor=0.99")
    assert summary["outcome"] == "blocked" and summary["promoted"] == {}
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlspec.gate.enough"] == "passed"
    assert run.data.tags["mlspec.gate.quality"] == "blocked"
    assert "mlspec.promoted.challenger" not in run.data.tags


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_failing_step_fails_the_local_kfp_runs_mlflow_run(tmp_path: Path) -> None:
    summary, run, _ = _small_run(tmp_path / "failed", "fail=true")
    assert summary["outcome"] == "failed"
    assert run.info.status == "FAILED"
    assert run.data.tags["mlspec.gate.enough"] == "passed"
    assert "mlspec.lineage" not in run.data.tags  # fit never ran: no task saw every step


def test_the_small_spec_compiles_tracked(tmp_path: Path) -> None:
    """The spec the local runs use nests its steps under a gate, as the flagship does."""
    pipeline = analyze_text(SMALL, "pipeline.yaml").pipeline
    spec = compiled(localize(pipeline, "sqlite:///r.db", str(tmp_path)))
    assert where(spec, "mlspec-lineage") == where(spec, "fit") != "comp-exit-handler-1"


def test_a_placeholder_in_the_spec_file_name_stays_text(tmp_path: Path) -> None:
    """KFP would substitute `{{$}}` (the whole executor input) inside mlspec_track's source; the
    identity it opens the run with names the spec file as it is."""
    spec_file = tmp_path / "apart-{{$}}.yaml"
    spec_file.write_text(APART, encoding="utf-8")
    pipeline = analyze_file(spec_file).pipeline
    assert "{{$}}" in pipeline.spec_path
    spec = compiled(pipeline)
    module = spec["deploymentSpec"]["executors"][EXECUTOR]["container"]["command"][-1]
    assert "{{$" not in module
    opened: dict = {}

    class Lineage:
        @staticmethod
        def open_run(uri: object, **kwargs: object) -> str:
            opened.update(kwargs)
            return "r"

    namespace: dict = {}
    exec(module, namespace)  # the IR's own module text, as kfp's executor runs it
    namespace["_mlspec_runtime"] = lambda name: Lineage
    assert namespace["mlspec_track"](run_id="job") == "r"
    assert opened["identity"]["spec_path"] == pipeline.spec_path
    assert opened["pipeline_run"] == opened["engine_run_id"] == "job"
