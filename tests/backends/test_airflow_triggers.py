"""Triggers on Airflow 3.3.2: promotion outlets, asset schedules and the data watcher DAG.

The fast tests read the generated files' syntax trees; the slow ones load them in a real DagBag
(the Airflow environment of tests/support/airflow_env.py) and run the watcher with dag.test()
against a migrated metadata database: its asset event and its Airflow Variable are Airflow's
own. The whole loop through a real scheduler is in tests/deploy/test_airflow_deploy.py.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import airflow_env, generated

from mlspec.backends.airflow import AirflowBackend
from mlspec.backends.base import Artifact
from mlspec.compiler import analyze_file, analyze_text
from mlspec.run.airflow_driver import ONLY_RUN_DATE
from mlspec.runtime.report import GateReport, write_gate_report
from mlspec.runtime.tasks import artifact_path

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
PRODUCER = "breast-cancer-classifier"
PROMOTED = f"mlspec://pipeline/{PRODUCER}/promoted"
BACKEND = AirflowBackend()
# Quotes, a backslash, a Python call and a comment sign: all of it must stay in a string.
HOSTILE_PATH = "/data/x'\"\"\" ''' \\ __import__('os').system('id') # \u2028 end"

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def consumer_text(triggers: str, schedule: str = "", name: str = "retrain-after") -> str:
    """A one-step pipeline beside the flagship (its step package), with these triggers."""
    return f"""\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: {name}, version: 1.0.0}}
triggers:
{triggers}
steps:
  ingest:
    python: breast_cancer.steps:ingest
    image: python:3.11-slim
    inputs: {{test_fraction: {{value: 0.25}}, seed: {{value: 7}}}}
    outputs: {{train: dataset, test: dataset, reference: dataset}}
{schedule}"""


def beside_flagship(folder: Path, specs: dict[str, str]) -> Path:
    """The flagship and `specs` in one folder: pipeline triggers resolve against it."""
    shutil.copytree(FLAGSHIP, folder, ignore=shutil.ignore_patterns("__pycache__", "build"))
    for name, text in specs.items():
        (folder / name).write_text(text)
    return folder


def emit(spec: Path) -> list[Artifact]:
    pipeline = analyze_file(spec).pipeline
    assert [d for d in BACKEND.check(pipeline) if d.severity == "error"] == []
    return [a for a in BACKEND.emit(pipeline) if not a.path.startswith("rollout/")]


def watch_name(pipeline: str, path: str) -> str:
    return f"{pipeline}__watch_{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def constants(text: str) -> dict[str, object]:
    """The module's top-level NAME = literal assignments."""
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


# ---- fast: the generated files --------------------------------------------------------------


def dag_files(path: str) -> dict[str, str]:
    """The DAG files of a consumer watching `path`: its own and its watcher's."""
    data = json.dumps({"path": path, "every": "2m"})  # JSON: a YAML flow mapping
    pipeline = analyze_text(consumer_text(f"  - data: {data}"), "spec.yaml").pipeline
    assert [t.path for t in pipeline.triggers] == [path]
    return {a.path: a.text for a in BACKEND.emit(pipeline) if "/" not in a.path}


def test_a_hostile_watched_path_stays_a_string_in_both_dag_files() -> None:
    harmful, harmless = dag_files(HOSTILE_PATH), dag_files("/data/plain")
    watcher = watch_name("retrain-after", HOSTILE_PATH).replace("-", "_") + ".py"
    assert sorted(harmful) == sorted(["retrain_after.py", watcher])
    plain = watch_name("retrain-after", "/data/plain").replace("-", "_") + ".py"
    assert generated.shape(harmful[watcher]) == generated.shape(harmless[plain])
    assert generated.shape(harmful["retrain_after.py"]) == generated.shape(
        harmless["retrain_after.py"]
    )
    found = constants(harmful[watcher])
    assert (found["PATH"], found["VARIABLE"]) == (HOSTILE_PATH, "mlspec.data." + HOSTILE_PATH)
    assert f"Asset({('file://' + HOSTILE_PATH)!r})" in harmful["retrain_after.py"]


def test_a_path_too_long_for_a_variable_key_is_keyed_by_its_hash() -> None:
    short, long = "/data/" + "a" * 232, "/data/" + "a" * 233  # keys of 250 and 251 characters
    keys = {}
    for path in (short, long):
        [watcher] = [t for name, t in dag_files(path).items() if "__watch_" in name]
        keys[path] = constants(watcher)["VARIABLE"]
    assert keys[short] == "mlspec.data." + short
    digest = hashlib.sha256(long.encode()).hexdigest()
    assert keys[long] == f"mlspec.data.sha256:{digest}"


# ---- slow: a real DagBag and dag.test() ------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    return airflow_env.environment()


def dagbag(python: Path, folder: Path, home: Path) -> dict:
    result = airflow_env.drive(python, airflow_env.base_env(home), "dagbag", str(folder))
    assert result["import_errors"] == {}, result["log"][-4000:]
    assert result["dag_warnings"] == [] and result["captured_warnings"] == {}
    return result["dags"]


def write(artifacts: list[Artifact], folder: Path) -> None:
    for artifact in artifacts:
        (folder / artifact.path).parent.mkdir(parents=True, exist_ok=True)
        (folder / artifact.path).write_text(artifact.text)


@pytest.mark.slow
def test_the_dagbag_loads_producer_consumers_and_watcher_with_their_assets(
    airflow_python: Path, tmp_path: Path
) -> None:
    landing = str(tmp_path / "landing")
    specs = {
        # any of: the producer's promotion to challenger, data at `landing`, or the cron
        "both.yaml": consumer_text(
            f"  - pipeline: {{name: {PRODUCER}, promoted: challenger}}\n"
            f"  - data: {{path: {landing}, every: 2m}}",
            "schedule: {cron: '0 4 * * *', timezone: UTC}\n",
            name="both-triggers",
        ),
        # any promotion of the producer, no schedule
        "any.yaml": consumer_text(f"  - pipeline: {{name: {PRODUCER}}}", name="any-promotion"),
        "manual.yaml": consumer_text("  - manual: true", name="by-hand"),
    }
    spec_folder = beside_flagship(tmp_path / "specs", specs)
    dags = tmp_path / "dags"
    for spec in ("pipeline.yaml", *specs):
        write(emit(spec_folder / spec), dags)
    found = dagbag(airflow_python, dags, tmp_path / "home")
    watcher = watch_name("both-triggers", landing)
    assert sorted(found) == sorted(["any-promotion", "both-triggers", "by-hand", PRODUCER, watcher])
    # The producer: its promotion task announces both identities; its schedule is its cron.
    producer = found[PRODUCER]
    assert producer["tasks"]["promote_challenger"]["outlets"] == [
        PROMOTED,
        f"{PROMOTED}/challenger",
    ]
    assert (producer["timetable"], producer["assets"]) == ("CronTriggerTimetable", None)
    both = found["both-triggers"]
    assert both["timetable"] == "AssetOrTimeSchedule"
    assert (both["schedule"], both["timezone"]) == ("0 4 * * *", "UTC")
    assert both["assets"] == {"any": [f"{PROMOTED}/challenger", f"file://{landing}"]}
    anyone = found["any-promotion"]
    assert (anyone["timetable"], anyone["assets"]) == ("AssetTriggeredTimetable", PROMOTED)
    assert anyone["is_paused_upon_creation"] is False  # its triggers act from the start
    by_hand = found["by-hand"]
    assert (by_hand["timetable"], by_hand["assets"]) == ("NullTimetable", None)
    assert by_hand["is_paused_upon_creation"] is None  # Airflow's dags_are_paused_at_creation
    # The watcher: every 2 minutes, one task whose outlet is the data asset.
    looks = found[watcher]
    assert (looks["timetable"], looks["every"]) == ("DeltaTriggerTimetable", 120.0)
    assert looks["is_paused_upon_creation"] is False
    assert {t: v["outlets"] for t, v in looks["tasks"].items()} == {"watch": [f"file://{landing}"]}


@pytest.mark.slow
def test_the_watcher_raises_its_asset_event_only_when_data_arrived(
    airflow_python: Path, migrated_airflow_db: Path, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    spec = (
        beside_flagship(
            tmp_path / "specs",
            {"consumer.yaml": consumer_text(f"  - data: {{path: {landing}, every: 1m}}")},
        )
        / "consumer.yaml"
    )
    home = tmp_path / "home"
    write(emit(spec), home / "dags")
    shutil.copyfile(migrated_airflow_db, home / "airflow.db")
    watcher = home / "dags" / (watch_name("retrain-after", str(landing)).replace("-", "_") + ".py")
    env = airflow_env.base_env(home)

    def look() -> dict:
        result = airflow_env.drive(airflow_python, env, "test", str(watcher), "{}", "", "")
        assert result["state"] == "success", result["log"][-6000:]
        return result

    (landing / "batch-1.csv").write_text("a,b\n1,2\n")
    arrived = look()
    assert (arrived["tasks"], arrived["asset_events"]) == (
        {"watch": "success"},
        [f"file://{landing}"],
    )
    assert f"mlspec: new data at {landing}" in arrived["log"]
    again = look()  # the fingerprint was kept in the Variable: nothing new
    assert (again["tasks"], again["asset_events"]) == ({"watch": "skipped"}, [])
    (landing / "batch-2.csv").write_text("a,b\n3,4\n")
    assert look()["asset_events"] == [f"file://{landing}"]


@pytest.mark.slow
def test_a_promotion_task_that_promoted_nothing_is_skipped_and_announces_nothing(
    airflow_python: Path,
    migrated_airflow_db: Path,
    uri: str,
    create_model: Callable[[str, str], None],
    tmp_path: Path,
) -> None:
    """The promotion task alone, as it runs again when cleared in a run whose gate blocked: the
    gate's report says blocked, so nothing is promoted; the task is skipped, not successful, so
    its outlets raise no asset event (before, it succeeded with nothing promoted)."""
    text = (FLAGSHIP / "pipeline.yaml").read_text()
    # A rule on the data gate alone: the task reads no upstream metric, only gate reports.
    text = text.replace(
        "{alias: challenger, after: [data_quality, model_quality, servable]}",
        "{alias: challenger, after: [data_quality]}",
    )
    assert "after: [data_quality]}" in text
    spec = beside_flagship(tmp_path / "specs", {"pipeline.yaml": text}) / "pipeline.yaml"
    home = tmp_path / "home"
    write(emit(spec), home / "dags")
    shutil.copyfile(migrated_airflow_db, home / "airflow.db")
    create_model(uri, PRODUCER)
    env = airflow_env.base_env(home) | {
        "MLSPEC_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MLFLOW_TRACKING_URI": uri,
    }
    # The gate's verdict in the run, as the gate task writes it.
    run_id = "manual__" + ONLY_RUN_DATE.isoformat()
    report = artifact_path(str(tmp_path / "artifacts"), PRODUCER, run_id, "data_quality", "report")
    Path(report).parent.mkdir(parents=True)
    blocked = GateReport("data_quality", "data", passed=False, reason="too few rows")
    write_gate_report(blocked, report)
    dag = str(home / "dags" / "breast_cancer_classifier.py")
    args = ("test", dag, "{}", uri, PRODUCER, "promote_challenger")
    result = airflow_env.drive(airflow_python, env, *args)
    assert (result["state"], result["run_id"]) == ("success", run_id), result["log"][-6000:]
    # Cleared alone, a task runs again with its setup and teardown: the run's tracking tasks.
    assert result["tasks"] == {
        "mlspec_close": "success",
        "mlspec_track": "success",
        "promote_challenger": "skipped",
    }
    assert result["asset_events"] == []
    assert result["promoted"] == {}
    assert "promotion to 'challenger': nothing promoted" in result["log"]  # it ran
