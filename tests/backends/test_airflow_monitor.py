"""Monitors on Airflow 3.3.2: the monitor DAG, the consumer scheduled on its alarm, `mlspec run`.

The fast tests read the generated files' syntax trees and the summary of a report that the real
runtime wrote against a real SQLite MLflow registry. The slow ones load the files in a real
DagBag and run the monitor with `mlspec run --target airflow` (dag.test() in the Airflow
environment of tests/support/airflow_env.py): the alarm's asset event is Airflow's own. The
loop through a real scheduler is in tests/deploy/test_airflow_deploy.py.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from support import airflow_env, generated, serving
from support.engines import mlspec_run
from support.monitoring import MODEL, champion_trained_on, monitor_text, retrain_text, spec_folder

from mlspec.backends import taskdata
from mlspec.backends.airflow import AirflowBackend
from mlspec.compiler import analyze_file
from mlspec.run.state import default_folder
from mlspec.run.summary import MonitorVerdict, RunReport, monitor_verdict, render
from mlspec.runtime.monitor import run_monitor
from mlspec.runtime.registry import REGISTRY_TAG_REFERENCE

FLAGSHIP = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer"
BACKEND = AirflowBackend()
# Quotes, a backslash, a Python call and a comment sign: all of it must stay in a string.
HOSTILE = "/data/x'\"\"\" ''' \\ __import__('os').system('id') # end"

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def dag_file(spec: Path) -> str:
    pipeline = analyze_file(spec).pipeline
    assert [d for d in BACKEND.check(pipeline) if d.severity == "error"] == []
    [text] = [a.text for a in BACKEND.emit(pipeline) if "/" not in a.path]
    return text


def assignment(text: str, name: str) -> ast.expr:
    found = [
        node.value
        for node in ast.parse(text).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == name
    ]
    assert len(found) == 1, name
    return found[0]


def json_constant(text: str, name: str) -> object:
    """NAME = json.loads(r'''...''') in the module: the data it decodes to."""
    call = assignment(text, name)
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "json.loads"
    return json.loads(ast.literal_eval(call.args[0]))


def dag_tasks(text: str) -> dict[str, dict[str, str]]:
    """The DAG's operator calls (`x_task = Operator(...)`): keyword -> source, by task_id."""
    tasks = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            keywords = {k.arg: ast.unparse(k.value) for k in node.value.keywords if k.arg}
            if "task_id" in keywords:
                task_id = ast.literal_eval(keywords.pop("task_id"))
                tasks[task_id] = {"operator": ast.unparse(node.value.func), **keywords}
    return tasks


def dag_keywords(text: str) -> dict[str, str]:
    [call] = [
        item.context_expr
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.With)
        for item in node.items
    ]
    assert isinstance(call, ast.Call)
    return {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg}


# ---- fast: the generated files --------------------------------------------------------------


def test_a_monitor_is_a_dag_of_a_monitor_task_and_an_alarm_announcing_its_breach(
    tmp_path: Path,
) -> None:
    defaults = "defaults: {retries: 2, timeout: 10m, image: python:3.11-slim}\n"
    specs = {"watch.yaml": monitor_text("/data/served", extra=defaults)}
    spec = spec_folder(tmp_path / "specs", specs) / "watch.yaml"
    pipeline = analyze_file(spec).pipeline
    files = {a.path: a.text for a in BACKEND.emit(pipeline)}
    text = files["drift_watch.py"]
    assert sorted(p for p in files if "/" not in p) == ["drift_watch.py"]  # no manifests
    runtime = {p.split("/")[1] for p in files if p.startswith("mlspec_runtime_")}
    assert {"monitor.py", "tasks.py", "rollback.py", ".airflowignore"} <= runtime
    # The job as the runtime takes it, the same data every target passes.
    assert json_constant(text, "CONFIG") == taskdata.monitor_data(pipeline)
    assert ast.literal_eval(assignment(text, "MONITOR")) == "drift-watch"
    assert dag_keywords(text)["dag_id"] == "'drift-watch'"
    tasks = dag_tasks(text)
    assert all(task.pop("doc_md") for task in tasks.values())
    assert tasks == {
        "monitor": {
            "operator": "PythonOperator",
            "python_callable": "_mlspec_monitor",
            "retries": "2",
            "execution_timeout": "datetime.timedelta(seconds=600)",
        },
        "alarm": {
            "operator": "PythonOperator",
            "python_callable": "_mlspec_alarm",
            "outlets": "[Asset('mlspec://monitor/drift-watch/breach')]",
        },
    }
    assert "    monitor_task >> alarm_task\n" in text
    # The report is the `report` output of task `monitor`, where a gate keeps its report.
    assert "output_path(ARTIFACT_ROOT, MONITOR, run_id, 'monitor', 'report')" in text


def test_hostile_monitor_text_stays_data_in_the_dag_file(tmp_path: Path) -> None:
    folder = spec_folder(
        tmp_path / "specs",
        {
            "hostile.yaml": monitor_text(HOSTILE, name="hostile"),
            "plain.yaml": monitor_text("/data/plain", name="plain"),
        },
    )
    harmful, harmless = dag_file(folder / "hostile.yaml"), dag_file(folder / "plain.yaml")
    assert generated.shape(harmful) == generated.shape(harmless)
    config = json_constant(harmful, "CONFIG")
    assert isinstance(config, dict) and config["inputs"]["path"] == HOSTILE


def test_a_monitor_trigger_schedules_the_pipeline_on_the_monitors_alarm(tmp_path: Path) -> None:
    folder = spec_folder(
        tmp_path / "specs",
        {
            "watch.yaml": monitor_text("/data/served"),
            "retrain.yaml": retrain_text("drift-watch"),
            "both.yaml": retrain_text("drift-watch", schedule=True).replace(
                "name: retrain-on-drift", "name: retrain-weekly-too"
            ),
        },
    )
    breach = "Asset('mlspec://monitor/drift-watch/breach')"
    alarm = dag_keywords(dag_file(folder / "retrain.yaml"))
    assert (alarm["schedule"], alarm["is_paused_upon_creation"]) == (breach, "False")
    both = dag_keywords(dag_file(folder / "both.yaml"))["schedule"]
    assert both.startswith("AssetOrTimeSchedule(timetable=CronTriggerTimetable(")
    assert both.endswith(f"assets={breach})")


def test_a_monitor_runs_in_its_watched_pipelines_state_folder() -> None:
    monitor = analyze_file(FLAGSHIP / "monitor.yaml").pipeline
    watched = analyze_file(FLAGSHIP / "pipeline.yaml").pipeline
    assert default_folder(monitor) == default_folder(watched) == Path(".mlspec/run", MODEL)


def test_the_summary_of_a_monitor_run_says_what_breached_and_what_was_done(
    uri: str, tmp_path: Path
) -> None:
    """The runtime's report, written against a real SQLite registry, read back as the summary
    of every engine's run reads it (<run>/monitor/report under the artifacts)."""
    version = champion_trained_on(uri, tmp_path)
    spec = spec_folder(tmp_path / "specs", {"watch.yaml": monitor_text("/unused")}) / "watch.yaml"
    config = taskdata.monitor_data(analyze_file(spec).pipeline)
    verdicts = {}
    for drifted in (True, False):
        served = serving.served_inputs(tmp_path / f"served-{drifted}", drifted=drifted)
        config["inputs"] = {"path": served, "window_seconds": None}
        artifacts = tmp_path / f"artifacts-{drifted}"
        report = artifacts / "drift-watch" / "run-1" / "monitor" / "report"
        report.parent.mkdir(parents=True)
        breached = run_monitor(config, run_id="run-1", tracking_uri=uri, report_path=str(report))
        assert breached is drifted
        verdicts[drifted] = monitor_verdict(artifacts)
    drift = verdicts[True]
    assert drift is not None
    assert (drift.version, drift.breached) == (version, ("checks",))
    assert drift.failed_checks == ("drift mean_texture", "drift worst_area")
    assert drift.actions == ("alarm raised",)
    clean = verdicts[False]
    assert clean is not None and (clean.breached, clean.failed_checks, clean.actions) == (
        (),
        (),
        (),
    )
    assert monitor_verdict(tmp_path / "nothing") is None  # failed before it judged
    shown = render(summary_of(drift))
    assert f"  monitor   version {version}: BREACHED (checks): drift mean_texture, drift " in shown
    assert "  actions   alarm raised\n" in shown and "promoted" not in shown
    assert "  monitor   did not judge: it failed before" in render(summary_of(None))
    from mlflow import MlflowClient

    tags = MlflowClient(tracking_uri=uri).get_model_version(MODEL, version).tags
    assert tags[REGISTRY_TAG_REFERENCE].endswith("train.csv")


def summary_of(verdict: MonitorVerdict | None) -> RunReport:
    folder = Path("/state/runs/0001-airflow")
    return RunReport(
        *("drift-watch", "airflow", "breached", "success", "run-1"),
        tasks={"monitor": "success", "alarm": "success"},
        gates={},
        metrics={},
        promoted={},
        registry_uri="sqlite:////state/registry.db",
        run_folder=folder,
        log=folder / "engine.log",
        kind="Monitor",
        monitor=verdict,
    )


# ---- slow: a real DagBag, and `mlspec run` with dag.test() ----------------------------------


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    return airflow_env.environment()


@pytest.mark.slow
def test_the_dagbag_loads_the_monitor_and_the_consumer_on_its_alarm(
    airflow_python: Path, tmp_path: Path
) -> None:
    folder = spec_folder(
        tmp_path / "specs",
        {"watch.yaml": monitor_text("/data/served"), "retrain.yaml": retrain_text("drift-watch")},
    )
    dags = tmp_path / "dags"
    for name in ("watch.yaml", "retrain.yaml"):
        pipeline = analyze_file(folder / name).pipeline
        for artifact in BACKEND.emit(pipeline):
            if not artifact.path.startswith("rollout/"):
                (dags / artifact.path).parent.mkdir(parents=True, exist_ok=True)
                (dags / artifact.path).write_text(artifact.text)
    env = airflow_env.base_env(tmp_path / "home")
    result = airflow_env.drive(airflow_python, env, "dagbag", str(dags))
    assert result["import_errors"] == {}, result["log"][-4000:]
    assert result["dag_warnings"] == [] and result["captured_warnings"] == {}
    found = result["dags"]
    assert sorted(found) == ["drift-watch", "retrain-on-drift"]
    watch = found["drift-watch"]
    assert {t: (v["upstream"], v["outlets"]) for t, v in watch["tasks"].items()} == {
        "monitor": ([], []),
        "alarm": (["monitor"], ["mlspec://monitor/drift-watch/breach"]),
    }
    retrain = found["retrain-on-drift"]
    assert (retrain["timetable"], retrain["assets"]) == (
        "AssetTriggeredTimetable",
        "mlspec://monitor/drift-watch/breach",
    )


@pytest.mark.slow
def test_mlspec_run_of_a_monitor_on_airflow_raises_the_alarm_only_on_drift(
    airflow_python: Path, template_db: Path, migrated_airflow_db: Path, tmp_path: Path
) -> None:
    """`mlspec run MONITOR --target airflow` in the state folder whose registry holds the
    champion: drifted inputs breach (the alarm task succeeds), clean ones do not (skipped)."""

    def state_folder(name: str) -> Path:
        """A registry and a migrated Airflow database, as an earlier run leaves them."""
        state = tmp_path / name
        (state / "engines" / "airflow").mkdir(parents=True)
        shutil.copyfile(template_db, state / "registry.db")
        shutil.copyfile(migrated_airflow_db, state / "engines" / "airflow" / "airflow.db")
        return state

    state = state_folder("state")
    version = champion_trained_on(f"sqlite:///{state / 'registry.db'}", tmp_path)
    served = tmp_path / "served"
    spec = spec_folder(tmp_path / "specs", {"watch.yaml": monitor_text(str(served))})
    summaries = {}
    for drifted in (True, False):
        shutil.rmtree(served, ignore_errors=True)
        serving.served_inputs(served, drifted=drifted)
        args = (str(spec / "watch.yaml"), "-t", "airflow", "--airflow-python", str(airflow_python))
        code, summary, output = mlspec_run(state, *args, timeout=300)
        assert code == 0 and summary is not None, output[-6000:]
        summaries[drifted] = summary, output
    drift, output = summaries[True]
    assert drift["outcome"] == "breached"
    assert drift["tasks"] == {"monitor": "success", "alarm": "success"}
    assert drift["monitor"] == {
        "version": version,
        "breached": ["checks"],
        "failed": ["drift mean_texture", "drift worst_area"],
        "actions": ["alarm raised"],
        "note": "",
    }
    assert "monitor drift-watch: breached, the alarm is raised" in output
    assert f"monitor   version {version}: BREACHED (checks): drift mean_texture" in output
    clean, output = summaries[False]
    assert clean["outcome"] == "passed"
    assert clean["tasks"] == {"monitor": "success", "alarm": "skipped"}
    assert (clean["monitor"]["breached"], clean["monitor"]["actions"]) == ([], [])
    assert f"monitor   version {version}: no breach" in output
    # An anomaly: no champion in this registry. The run fails, nothing is judged or done.
    code, failed, output = mlspec_run(state_folder("empty"), *args, timeout=300)
    assert code == 3 and failed is not None, output[-6000:]
    assert failed["outcome"] == "failed" and failed["monitor"] is None
    assert failed["tasks"] == {"monitor": "failed", "alarm": "upstream_failed"}
    assert f"PromotionRefused: model '{MODEL}' has no alias 'champion'" in output
    assert "monitor   did not judge: it failed before writing its report" in output


def test_defaults_airflow_cannot_apply_to_the_monitor_task_are_an_ms302_at_defaults(
    tmp_path: Path,
) -> None:
    """As for a Python step: the monitor's task runs in the worker, whose image and resources
    are not the spec's; retries and timeout are the task's own (above), so they warn nothing."""
    specs = {
        "sized.yaml": monitor_text("/data/a", name="sized", extra=SIZED),
        "timed.yaml": monitor_text("/data/a", name="timed", extra="defaults: {retries: 1}\n"),
    }
    folder = spec_folder(tmp_path / "specs", specs)
    [warning] = [
        d for d in BACKEND.check(analyze_file(folder / "sized.yaml").pipeline) if d.code == "MS302"
    ]
    assert (warning.span.line, warning.span.col, warning.severity) == (4, 1, "warning")
    assert warning.message == (
        "airflow runs the monitor's task in its Airflow workers: the defaults' image, packages "
        "and resources are not applied"
    )
    assert BACKEND.check(analyze_file(folder / "timed.yaml").pipeline) == []


SIZED = "defaults:\n  image: python:3.11-slim\n  packages: [pyarrow]\n  resources: {cpu: '1'}\n"
