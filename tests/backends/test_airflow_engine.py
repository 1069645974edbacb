"""Generated DAGs in real Airflow 3.3.2: the DagBag loads them, templates render, dag.test() runs.

Starts: the separate Airflow environment (built once per machine by tests/support/airflow_env.py
with uv, a minute on a cold cache), a migrated Airflow metadata database (`airflow db migrate`,
~10 s, once per test run: tests/support/engines.py), and one `dag.test()` per run test (~25 s
each: the flagship trains a real model) against a real SQLite MLflow registry; the passing
flagship's is `mlspec run --target airflow`'s, made once per test run (tests/support/engines.py).
Every Airflow process is a subprocess that ends with its test.

A failed gate's outcome is the spec's `on_fail`: `block` (a ShortCircuitOperator) skips every
task after the gate and the run succeeds; `fail` fails the gate task and with it the run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import airflow_env, generated, hostile
from support.engines import Run, registry

from mlspec.backends import code_files, lineage
from mlspec.backends.airflow import AirflowBackend
from mlspec.compiler import analyze_file, analyze_text, ir
from mlspec.runtime import embed
from mlspec.runtime import lineage as tracking
from mlspec.runtime.lineage import CLOSE_TASK, LINEAGE_TASK, TRACK_TASK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
FLAGSHIP = ROOT / "examples" / "breast-cancer"
MODEL = "breast-cancer-classifier"
BACKEND = AirflowBackend()


def write_dag(pipeline: ir.Pipeline, folder: Path) -> Path:
    """The DAG file and, beside it, the runtime package it loads (as `mlspec deploy` writes)."""
    artifacts = BACKEND.emit(pipeline)
    for beside in artifacts:
        if beside.path.startswith(embed.PACKAGE_PREFIX):
            (folder / beside.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / beside.path).write_text(beside.text, encoding="utf-8")
    [artifact] = generated.without_rollout(artifacts)
    path = folder / artifact.path
    path.write_text(artifact.text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    print("\nstarting: the Airflow 3.3.2 test environment (tests/airflow/requirements.txt)")
    return airflow_env.environment()


@pytest.fixture(scope="session")
def migrated_db(migrated_airflow_db: Path) -> Path:
    return migrated_airflow_db  # tests/support/engines.py: one per test run


# -- every example (and the hostile spec) in one dags folder ----------------------------------


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ir.Pipeline]]:
    folder = tmp_path_factory.mktemp("dags")
    pipelines = {}
    for spec in EXAMPLES:
        pipeline = analyze_file(spec).pipeline
        write_dag(pipeline, folder)
        pipelines[pipeline.name] = pipeline
    for text, name in ((hostile.spec(), "hostile.yaml"), (WIDENED, "widened.yaml")):
        pipeline = analyze_text(text, name).pipeline
        write_dag(pipeline, folder)
        pipelines[pipeline.name] = pipeline
    return folder, pipelines


# A container step that reads an int parameter as a float input: it sees 10.0, as on KFP.
WIDENED = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: widened, version: 1.0.0}
params:
  n: {type: int, default: 10}
steps:
  widen:
    image: busybox:1.36
    container: {command: [echo], args: ["${inputs.n}", "${inputs.m}"]}
    inputs: {n: {from: params.n, type: float}, m: params.n}
"""


@pytest.fixture(scope="module")
def dagbag(
    airflow_python: Path, dags_folder: tuple[Path, dict[str, ir.Pipeline]], tmp_path_factory
) -> dict:
    folder, _ = dags_folder
    env = airflow_env.base_env(tmp_path_factory.mktemp("airflow-home"))
    return airflow_env.drive(airflow_python, env, "dagbag", str(folder))


def test_every_dag_loads_without_errors_or_warnings(
    dagbag: dict, dags_folder: tuple[Path, dict[str, ir.Pipeline]]
) -> None:
    assert dagbag["import_errors"] == {}
    assert dagbag["captured_warnings"] == {}
    assert dagbag["dag_warnings"] == []  # pools are known, nothing deprecated
    assert sorted(dagbag["dags"]) == sorted(dags_folder[1])


def _expected_upstream(pipeline: ir.Pipeline) -> dict[str, set[str]]:
    expected = {s.name: {*s.upstream, *s.gates} for s in pipeline.steps}
    expected |= {g.name: set(g.upstream) for g in pipeline.gates}
    if pipeline.registry is not None:
        for rule in pipeline.registry.rules:
            if rule.after_rollout:
                continue
            reads = {pipeline.registry.model.step, *rule.gates}
            if pipeline.registry.reference is not None:  # the training data it records
                reads.add(pipeline.registry.reference.step)
            reads |= {r.metric.step for g in rule.gates for r in pipeline.gate(g).requirements}
            expected["promote_" + rule.alias] = reads
    if lineage.tracked(pipeline):  # mlspec's own tasks: before the roots, after the steps, last
        for before in expected.values():
            if not before:
                before.add(TRACK_TASK)
        expected[LINEAGE_TASK] = {s.name for s in pipeline.steps}
        expected[CLOSE_TASK] = {*expected, TRACK_TASK}
        expected[TRACK_TASK] = set()
    return expected


def test_dags_match_their_specs(
    dagbag: dict, dags_folder: tuple[Path, dict[str, ir.Pipeline]]
) -> None:
    for name, pipeline in dags_folder[1].items():
        dag = dagbag["dags"][name]
        tasks = dag["tasks"]
        upstream = {task: set(info["upstream"]) for task, info in tasks.items()}
        assert upstream == _expected_upstream(pipeline), name
        for step in pipeline.steps:
            task = tasks[step.name]
            operator = "PythonOperator" if step.kind == "python" else "KubernetesPodOperator"
            assert task["operator"] == operator
            assert task["retries"] == step.retries
            assert task["execution_timeout"] == step.timeout_seconds
            assert task["pool"] == "default_pool"
        for gate in pipeline.gates:
            blocking = gate.on_fail == "block"
            expected = "ShortCircuitOperator" if blocking else "PythonOperator"
            assert tasks[gate.name]["operator"] == expected
        # A teardown: run however the run ended (no ShortCircuitOperator skips it), and its own
        # state never the run's; the other tasks keep Airflow's default rule.
        roles = {(t, i["trigger_rule"], i["setup"], i["teardown"]) for t, i in tasks.items()}
        if lineage.tracked(pipeline):
            assert (TRACK_TASK, "all_success", True, False) in roles
            assert (CLOSE_TASK, "all_done_setup_success", False, True) in roles
            roles -= {r for r in roles if r[0] in (TRACK_TASK, CLOSE_TASK)}
        assert {r[1:] for r in roles} == {("all_success", False, False)}, name
        assert dag["params"] == {p.name: p.default for p in pipeline.params}
        if pipeline.schedule:
            assert dag["timetable"] == "CronTriggerTimetable"
            assert dag["schedule"] == pipeline.schedule.cron
            assert dag["timezone"] == pipeline.schedule.timezone
            assert dag["is_paused_upon_creation"] == pipeline.schedule.paused
        else:
            assert dag["timetable"] == "NullTimetable"
        assert dag["owner"] == ", ".join(pipeline.owners) or "airflow"
        assert dag["tags"] == sorted(["mlspec", *(f"{k}:{v}" for k, v in pipeline.labels)])


def test_templated_fields_render_spec_strings_as_text(
    airflow_python: Path, dags_folder: tuple[Path, dict[str, ir.Pipeline]], tmp_path: Path
) -> None:
    env = airflow_env.base_env(tmp_path / "home")
    env["MLSPEC_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    rendered = airflow_env.drive(airflow_python, env, "render", str(dags_folder[0]))
    h = hostile.HOSTILE
    run = rendered["run"]  # the hostile spec's container step
    assert run["cmds"] == [h, h]
    out = tmp_path / "artifacts" / "hostile" / "manual__2026-01-01T00_00_00_00_00" / "run" / "o"
    assert run["arguments"] == [h + h + h, str(out), "${inputs.a}"]
    assert run["env_vars"] == [{"name": "F", "value": h, "value_from": None}]
    assert run["image"] == "busybox:1.36"
    assert rendered["widen"]["arguments"] == ["10.0", "10"]  # declared float, and as is
    # The churn example's container arguments: parameter values and artifact paths.
    extract = rendered["extract"]["arguments"]
    assert extract[:2] == ["--snapshot", "latest-complete-week"]
    assert extract[3].endswith("/churn-scorer/manual__2026-01-01T00_00_00_00_00/extract/events")


# -- the flagship, run by dag.test() ----------------------------------------------------------


def run_flagship(
    airflow_python: Path, migrated_db: Path, uri: str, folder: Path, spec_text: str, conf: dict
) -> dict:
    home = folder / "home"
    home.mkdir(parents=True)
    shutil.copyfile(migrated_db, home / "airflow.db")
    pipeline = analyze_text(spec_text, "pipeline.yaml").pipeline
    dag_file = write_dag(pipeline, home / "dags")
    env = airflow_env.base_env(home)
    env |= {
        "MLSPEC_ARTIFACT_ROOT": str(folder / "artifacts"),
        "MLFLOW_TRACKING_URI": uri,
        "PYTHONPATH": str(FLAGSHIP),
    }
    print(f"\nstarting: dag.test() of {pipeline.name} with conf {json.dumps(conf)} in {home}")
    args = ("test", str(dag_file), json.dumps(conf), uri, MODEL)
    return airflow_env.drive(airflow_python, env, *args)


FLAGSHIP_TEXT = (FLAGSHIP / "pipeline.yaml").read_text()


@pytest.fixture
def uri(uri: str, create_model: Callable[[str, str], None]) -> str:
    """The registry, with the example's registered model created for its first run."""
    create_model(uri, MODEL)
    return uri


def test_flagship_runs_passes_its_gates_and_registers_a_challenger(
    flagship_run: Callable[[str], Run],
) -> None:
    run = flagship_run("airflow")  # `mlspec run --target airflow`: dag.test(), once per test run
    summary, log = run.summary, run.log
    assert summary["outcome"] == "passed", log[-6000:]
    assert set(summary["tasks"].values()) == {"success"}
    assert len(summary["tasks"]) == 10  # 3 steps, 3 gates, 1 promotion, mlspec's 3 (tracking)
    assert "gate data_quality (data): PASSED" in log
    assert "gate model_quality (model): PASSED" in log
    assert "gate servable (serving): PASSED" in log
    assert f"promotion to 'challenger': {MODEL} version 1" in log
    assert registry(run.state) == (["1"], {"challenger": "1"})
    assert summary["promoted"] == {"challenger": "1"}  # read by the driver, for `mlspec run`
    run_id = summary["engine_run_id"].replace(":", "_").replace("+", "_")
    run_folder = Path(summary["run_folder"]) / "artifacts" / MODEL / run_id
    assert {p.name for p in run_folder.iterdir()} == {
        "ingest", "train", "evaluate", "data_quality", "model_quality", "servable"
    }  # fmt: skip
    report = json.loads((run_folder / "model_quality" / "report").read_text())
    assert report["passed"] is True
    # The steps imported the pinned copy beside the DAG: the spec's folder was not on the path.
    [package] = code_files.packages(analyze_file(FLAGSHIP / "pipeline.yaml").pipeline)
    dags = Path(summary["run_folder"]) / "airflow"
    assert sorted(p.name for p in dags.glob("mlspec_code_*")) == [code_files.folder(package)]


def tracking_run(uri: str) -> object:
    """The flagship's one MLflow run (mlflow.entities.Run) in the registry at `uri`."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(MODEL)  # the pipeline's name
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    return run


def test_the_flagships_run_is_one_mlflow_run_that_its_model_version_points_to(
    flagship_run: Callable[[str], Run],
) -> None:
    """What `mlspec_track`, the gates, `mlspec_lineage`, the promotion and `mlspec_close`
    recorded in dag.test() of the flagship, read back from the real SQLite store."""
    from mlflow import MlflowClient

    run = flagship_run("airflow")
    summary = run.summary
    uri = f"sqlite:///{run.state / 'registry.db'}"
    found = tracking_run(uri)
    info, data = found.info, found.data  # type: ignore[attr-defined]
    assert info.status == "FINISHED"
    engine_run_id = summary["engine_run_id"]
    spec_sha256 = hashlib.sha256((FLAGSHIP / "pipeline.yaml").read_bytes()).hexdigest()
    [package] = code_files.packages(analyze_file(FLAGSHIP / "pipeline.yaml").pipeline)
    code = dict.fromkeys(("ingest", "train", "evaluate"), f"breast_cancer@sha256:{package.digest}")
    assert {k: v for k, v in data.tags.items() if k.startswith("mlspec.")} == {
        tracking.TAG_PIPELINE_RUN: f"{MODEL}/{engine_run_id}",
        tracking.TAG_SPEC: MODEL,
        tracking.TAG_SPEC_VERSION: "1.0.0",
        tracking.TAG_SPEC_SHA256: spec_sha256,
        tracking.TAG_SPEC_PATH: "examples/breast-cancer/pipeline.yaml",
        tracking.TAG_ENGINE: "airflow",
        tracking.TAG_ENGINE_RUN_ID: engine_run_id,
        tracking.TAG_GIT_COMMIT: "4e1c2a7b9d0f3e5a6b8c1d2e4f6a8b0c2d4e6f8a",
        tracking.TAG_CODE_GIT: (
            "https://github.com/acme/ml-pipelines.git@4e1c2a7b9d0f3e5a6b8c1d2e4f6a8b0c2d4e6f8a"
            ":examples/breast-cancer/build/prefect"
        ),
        **{tracking.TAG_CODE_PREFIX + step: pin for step, pin in code.items()},
        tracking.TAG_GATE_PREFIX + "data_quality": "passed",
        tracking.TAG_GATE_PREFIX + "model_quality": "passed",
        tracking.TAG_GATE_PREFIX + "servable": "passed",
        tracking.TAG_PROMOTED_PREFIX + "challenger": "1",
        tracking.TAG_LINEAGE: "recorded",
    }
    assert data.params == {
        "n_estimators": "200", "max_depth": "6", "test_fraction": "0.25", "seed": "7",
        "min_auc": "0.95",
    }  # fmt: skip
    assert set(data.metrics) == {"evaluate.auc", "evaluate.accuracy"}
    assert 0.95 <= data.metrics["evaluate.auc"] <= 1.0
    client = MlflowClient(tracking_uri=uri)
    reports = {Path(a.path).name for a in client.list_artifacts(info.run_id, "gates")}
    assert reports == {"data_quality.json", "model_quality.json", "servable.json"}
    # Every dataset a step or gate read, fingerprinted: the digest is the file's own sha256.
    run_folder = Path(summary["run_folder"]) / "artifacts" / MODEL
    [artifacts] = [p for p in run_folder.iterdir() if p.is_dir()]
    inputs = {i.dataset.name: i for i in found.inputs.dataset_inputs}  # type: ignore[attr-defined]
    assert len(found.inputs.dataset_inputs) == len(inputs)  # type: ignore[attr-defined]
    readers = {"ingest.train": "data_quality,train", "ingest.test": "evaluate,servable",
               "ingest.reference": "data_quality"}  # fmt: skip
    assert set(inputs) == set(readers)
    for name, reader_list in readers.items():
        path = artifacts / Path(*name.split("."))
        assert path.is_file()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert inputs[name].dataset.digest == digest[:32]
        profile = json.loads(inputs[name].dataset.profile)
        assert (profile["sha256"], profile["bytes"]) == (digest, path.stat().st_size)
        assert {t.key: t.value for t in inputs[name].tags} == {
            tracking.DATASET_CONTEXT_TAG: reader_list
        }
    # The promoted version's source run is this run.
    version = client.get_model_version(MODEL, "1")
    assert version.run_id == info.run_id
    assert version.tags[tracking.VERSION_TAG_TRACKING_RUN] == info.run_id
    promoted_by = json.loads(version.tags[tracking.VERSION_TAG_PROMOTED_BY_PREFIX + "challenger"])
    assert promoted_by["by"] == "pipeline"
    assert promoted_by["rule"] == ["data_quality", "model_quality", "servable"]
    assert tracking.TRACKING_LINE in run.log
    assert '"recorded": false' not in run.log  # nothing went unrecorded


def test_a_blocking_gate_skips_everything_after_it(
    airflow_python: Path, migrated_db: Path, uri: str, tmp_path: Path
) -> None:
    conf = {"min_auc": 0.999}
    result = run_flagship(airflow_python, migrated_db, uri, tmp_path, FLAGSHIP_TEXT, conf)
    assert result["state"] == "success", result["log"][-6000:]
    assert result["tasks"] == {
        "data_quality": "success",
        "evaluate": "success",
        "ingest": "success",
        "model_quality": "success",  # it ran and said no: ShortCircuitOperator
        "promote_challenger": "skipped",
        "servable": "success",
        "train": "success",
        TRACK_TASK: "success",
        LINEAGE_TASK: "success",  # every step ran
        CLOSE_TASK: "success",  # a teardown: the gate skipped everything after it but this
    }
    assert "gate model_quality (model): BLOCKED" in result["log"]
    assert generated.registry_state(uri, MODEL) == ([], {})
    assert result["promoted"] == {}
    found = tracking_run(uri)
    assert found.info.status == "FINISHED"  # type: ignore[attr-defined]
    tags = found.data.tags  # type: ignore[attr-defined]
    assert tags[tracking.TAG_GATE_PREFIX + "model_quality"] == "blocked"
    assert tracking.TAG_PROMOTED_PREFIX + "challenger" not in tags


def test_a_tracking_failure_at_open_leaves_verdicts_and_promotion_as_they_were(
    airflow_python: Path, migrated_db: Path, uri: str, tmp_path: Path
) -> None:
    """The pipeline's experiment is deleted: MLflow refuses the run (a real tracking failure;
    with SQLite, tracking and registry are one database that cannot fail apart). Gates and the
    promotion work as without tracking; every tracking task says what it did not record."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    client.delete_experiment(client.create_experiment(MODEL))
    result = run_flagship(airflow_python, migrated_db, uri, tmp_path, FLAGSHIP_TEXT, {})
    assert result["state"] == "success", result["log"][-6000:]
    assert set(result["tasks"].values()) == {"success"}
    assert result["promoted"] == {"challenger": "1"}
    version = client.get_model_version(MODEL, "1")
    gates = ("data_quality", "model_quality", "servable")
    assert {g: version.tags["mlspec.gate." + g] for g in gates} == dict.fromkeys(gates, "passed")
    assert not version.run_id
    lines = [
        json.loads(line.split(tracking.TRACKING_LINE, 1)[1])
        for line in result["log"].splitlines()
        if tracking.TRACKING_LINE in line
    ]
    unrecorded = {line["task"] for line in lines if not line["recorded"]}
    assert {TRACK_TASK, LINEAGE_TASK, CLOSE_TASK, *gates} <= unrecorded, lines
    assert client.search_runs([client.get_experiment_by_name(MODEL).experiment_id]) == []


def test_a_failing_gate_fails_the_run(
    airflow_python: Path, migrated_db: Path, uri: str, tmp_path: Path
) -> None:
    text = FLAGSHIP_TEXT.replace("on_fail: block", "on_fail: fail")
    assert text != FLAGSHIP_TEXT
    result = run_flagship(airflow_python, migrated_db, uri, tmp_path, text, {"min_auc": 0.999})
    assert result["state"] == "failed", result["log"][-6000:]
    assert result["tasks"]["model_quality"] == "failed"
    assert result["tasks"]["promote_challenger"] == "upstream_failed"
    # The teardown succeeded and the run still failed: its state is not the run's.
    assert result["tasks"][CLOSE_TASK] == "success"
    assert "gate 'model_quality' did not pass (on_fail: fail)" in result["log"]
    assert generated.registry_state(uri, MODEL) == ([], {})
    found = tracking_run(uri)
    assert found.info.status == "FAILED"  # type: ignore[attr-defined]
    assert found.data.tags[tracking.TAG_GATE_PREFIX + "model_quality"] == "blocked"  # type: ignore[attr-defined]
