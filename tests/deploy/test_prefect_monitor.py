"""Monitors on Prefect: the monitor's flow and deployment, the trigger on its alarm, its local run.

Fast: the example monitor's flow and prefect.yaml (a snapshot), read back by PyYAML and Prefect's
own models, the flow loaded by Prefect's entrypoint loader, spec text kept as text, and the
deployment trigger of a pipeline retrained on the monitor's alarm as `prefect deploy` and
`mlspec deploy` read it.

Slow: `mlspec run MONITOR.yaml --target prefect` on a real SQLite MLflow registry whose champion
records its training data; and the loop on a real server with a process worker: the monitor
deployment fed clean inputs emits nothing and starts nothing; fed drifted inputs it emits
`mlspec.monitor.breach`, and the flagship's deployment (retrained on that alarm) runs through its
gates and promotes.
"""

from __future__ import annotations

import ast
import json
import pickle
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import serving
from support.engines import mlspec_run
from support.prefect_flagship import EXAMPLE, variant
from support.prefect_server import Server, deploy, with_process_worker

from mlspec.backends import taskdata
from mlspec.backends.prefect import PrefectBackend
from mlspec.compiler import analyze_file
from mlspec.deploy.prefect import settings as prefect_settings
from mlspec.deploy.prefect import wanted as prefect_wanted
from mlspec.run.local_registry import aliases

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = "breast-cancer-classifier"
MONITOR = "breast-cancer-monitor"
BREACH = "mlspec.monitor.breach"
TRIGGER = f"mlspec {MODEL}: after monitor {MONITOR} raised its alarm"
FLUSH_SECONDS = 1  # how often the server's event persister writes the events it received


def loop_specs(folder: Path, served: Path) -> tuple[Path, Path]:
    """(the flagship retrained on the monitor's alarm, the example monitor watching `served`),
    in one folder, neither on a schedule (a scheduled run would start in the middle of a test)."""
    training = variant(folder)
    text = training.read_text(encoding="utf-8")
    schedule = 'schedule: {cron: "0 3 * * 1", timezone: Europe/Berlin}\n'
    assert schedule in text
    training.write_text(
        text.replace(schedule, f"triggers:\n  - monitor: {{name: {MONITOR}}}\n"), encoding="utf-8"
    )
    text = (EXAMPLE / "monitor.yaml").read_text(encoding="utf-8")
    assert 'schedule: {cron: "@hourly"}\n' in text
    text = text.replace('schedule: {cron: "@hourly"}\n', "")
    monitor = folder / "monitor.yaml"
    monitor.write_text(text.replace("/data/serving/breast-cancer", str(served)), encoding="utf-8")
    return training, monitor


def compiled(spec: Path) -> dict[str, str]:
    return {a.path: a.text for a in PrefectBackend().emit(analyze_file(spec).pipeline)}


def constants(module_text: str) -> dict[str, Any]:
    """The flow file's top-level constants as Python reads them (MONITOR: its JSON decoded)."""
    found: dict[str, Any] = {}
    for node in ast.parse(module_text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Call):  # json.loads(r'''...''')
                found[node.targets[0].id] = json.loads(ast.literal_eval(value.args[0]))
            else:
                found[node.targets[0].id] = ast.literal_eval(value)
    return found


def test_monitor_snapshot(snapshot: object) -> None:
    """The example monitor's flow and prefect.yaml (the runtime package is the runtime's text)."""
    files = compiled(EXAMPLE / "monitor.yaml")
    assert {p: t for p, t in files.items() if not p.startswith("mlspec_runtime_")} == snapshot


def test_prefect_reads_the_monitors_deployment_and_flow(tmp_path: Path) -> None:
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.flows import load_flow_from_entrypoint

    spec = EXAMPLE / "monitor.yaml"
    files = compiled(spec)
    data = yaml.safe_load(files["prefect.yaml"])
    [deployment] = PrefectYamlModel.model_validate(data).deployments
    assert deployment.name == MONITOR
    assert deployment.entrypoint == "breast_cancer_monitor.py:breast_cancer_monitor_flow"
    [raw] = data["deployments"]
    assert raw["schedules"] == [{"cron": "@hourly", "timezone": "UTC", "active": True}]
    assert raw["parameters"] == {} and "triggers" not in raw
    assert raw["work_pool"]["name"] == "mlspec"
    flow_text = files["breast_cancer_monitor.py"]
    found = constants(flow_text)
    assert found["MONITOR"] == taskdata.monitor_data(analyze_file(spec).pipeline)
    assert (found["BREACH_EVENT"], found["BREACH_RESOURCE"]) == (
        BREACH,
        f"mlspec.monitor.{MONITOR}",
    )
    runtime = {path.partition("/")[2] for path in files if path.startswith("mlspec_runtime_")}
    assert {"monitor.py", "tasks.py", "registry.py", "quality.py"} <= runtime
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    flow = load_flow_from_entrypoint(
        f"{tmp_path / 'breast_cancer_monitor.py'}:{raw['entrypoint'].partition(':')[2]}"
    )
    assert flow.name == MONITOR
    assert flow.parameters.model_dump()["properties"] == {}
    # the one task: named as every target names it, so `mlspec run` finds its report
    assert "name='monitor', task_run_name='monitor'" in flow_text
    assert (
        "output_path(\n        ARTIFACT_ROOT, PIPELINE, run_id, 'monitor', 'report'\n" in flow_text
    )


def test_monitor_text_stays_text_in_the_flow_and_prefect_yaml(tmp_path: Path) -> None:
    """Quotes, triple quotes, a backslash, `#` and `$` in a path, a column and the description."""
    hostile_path = '/data/it\'s "new" #1 \\ $HOME'
    hostile_column = "pred'''\"\\ # $x"
    _, spec = loop_specs(tmp_path / "specs", tmp_path / "served")
    text = spec.read_text()
    text = text.replace(f"{tmp_path / 'served'}/inputs", json.dumps(hostile_path))
    text = text.replace("prediction: prediction", f"prediction: {json.dumps(hostile_column)}")
    description = (
        "  description: Watches what the served classifier is sent, and how well it answers."
    )
    assert description in text
    text = text.replace(description, f"  description: {json.dumps(hostile_column)}")
    spec.write_text(text)
    files = compiled(spec)
    found = constants(files["breast_cancer_monitor.py"])
    assert found["MONITOR"]["inputs"]["path"] == hostile_path
    assert found["MONITOR"]["feedback"]["prediction"] == hostile_column
    [deployment] = yaml.safe_load(files["prefect.yaml"])["deployments"]
    assert deployment["name"] == MONITOR
    module = ast.parse(files["breast_cancer_monitor.py"])
    [flow] = [
        n
        for n in module.body
        if isinstance(n, ast.FunctionDef) and n.name == "breast_cancer_monitor_flow"
    ]
    [decorator] = [d for d in flow.decorator_list if isinstance(d, ast.Call)]
    described = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}["description"]
    assert described == hostile_column


def test_the_training_pipeline_is_triggered_by_the_monitors_alarm(tmp_path: Path) -> None:
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    training, _ = loop_specs(tmp_path / "specs", tmp_path / "served")
    files = compiled(training)
    [deployment] = yaml.safe_load(files["prefect.yaml"])["deployments"]
    [trigger] = _initialize_deployment_triggers(MODEL, deployment["triggers"])
    assert isinstance(trigger, DeploymentEventTrigger)
    assert trigger.name == TRIGGER
    assert trigger.expect == {BREACH}
    assert trigger.match.model_dump() == {"prefect.resource.id": f"mlspec.monitor.{MONITOR}"}
    assert (trigger.posture, trigger.threshold) == ("Reactive", 1)
    # what `mlspec deploy` applies: the same trigger, as the automation it makes
    from mlspec.deploy.common import Request, content_version

    pipeline = analyze_file(training).pipeline
    artifacts = tuple(PrefectBackend().emit(pipeline))
    settings: dict[str, str | None] = {
        "prefect_api_url": "http://127.0.0.1:4200/api",
        "prefect_work_pool": None,
        "prefect_flow_dir": str(tmp_path),
    }
    request = Request(str(training), pipeline, artifacts, content_version(artifacts), settings)
    [wanted] = prefect_wanted.wanted_from(request, prefect_settings.settings_from(request))
    assert [t.name for t in wanted.triggers] == [TRIGGER]


def test_a_monitor_started_by_arriving_data_carries_its_watcher(tmp_path: Path) -> None:
    """Triggers apply to a monitor as to a pipeline: its watcher and the fingerprint module too."""
    from prefect.flows import load_flow_from_entrypoint

    _, spec = loop_specs(tmp_path / "specs", tmp_path / "served")
    text = spec.read_text().replace(
        "monitor:\n", f"triggers:\n  - data: {{path: {tmp_path}, every: 5m}}\nmonitor:\n", 1
    )
    spec.write_text(text)
    files = compiled(spec)
    for path, content in files.items():
        (tmp_path / "out" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / path).write_text(content)
    monitor, watcher = yaml.safe_load(files["prefect.yaml"])["deployments"]
    assert monitor["triggers"][0]["match"] == {"prefect.resource.id": f"mlspec.data.{tmp_path}"}
    for deployment in (monitor, watcher):
        file, _, function = deployment["entrypoint"].partition(":")
        assert load_flow_from_entrypoint(f"{tmp_path / 'out' / file}:{function}")
    assert any(path.endswith("/watch.py") for path in files)


def test_a_monitors_folder_warning_does_not_ask_for_code_it_cannot_have() -> None:
    pipeline = analyze_file(EXAMPLE / "monitor.yaml").pipeline
    found = [d for d in PrefectBackend().check(pipeline) if d.code == "MS302"]
    [warning] = [d for d in found if "--prefect-flow-dir" in d.message]
    assert "code:" not in warning.hint and "mount" in warning.hint


# -- slow: real runs on a real SQLite MLflow registry ------------------------------------------


def champion(registry_uri: str, folder: Path) -> str:
    """A version of the flagship's model that records the data it learned from, as champion
    (with an AUC any retrained model beats, so the retraining's model gate passes)."""
    from sklearn.dummy import DummyClassifier

    from mlspec.runtime.registry import promote, register_model_version

    model = folder / "model.pkl"
    model.write_bytes(pickle.dumps(DummyClassifier().fit([[0], [1]], [0, 1])))
    version = register_model_version(
        registry_uri,
        MODEL,
        str(model),
        run_id="trained-earlier",
        spec_name=MODEL,
        spec_version="1.0.0",
        gate_reports=[],
        metrics={"evaluate.auc": 0.5},
        reference_path=serving.training_data(folder / "train.csv"),
    )
    promote(registry_uri, MODEL, version, "champion", [])
    return version


def version_tags(registry_uri: str, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    return dict(client.get_model_version(MODEL, version).tags)


@pytest.mark.slow
def test_mlspec_run_judges_the_champion_and_writes_the_report(
    prefect_api: str, template_db: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"  # the watched pipeline's: the registry its runs filled
    state.mkdir()
    shutil.copyfile(template_db, state / "registry.db")
    registry_uri = f"sqlite:///{state / 'registry.db'}"
    version = champion(registry_uri, tmp_path)
    served = tmp_path / "served"
    _, monitor = loop_specs(tmp_path / "specs", served)
    serving.served_inputs(served / "inputs", drifted=True)
    serving.feedback(served / "feedback", wrong_share=0.0)
    code, summary, output = mlspec_run(
        state, str(monitor), "--target", "prefect", server=prefect_api
    )
    assert code == 0 and summary is not None, output[-6000:]
    assert summary["tasks"] == {"monitor": "completed"}
    assert summary["detail"] == f"Breached: {BREACH} emitted"
    # what it judged and did is shown without --verbose
    assert "Task run 'monitor' - monitor breast-cancer-monitor: " in output
    assert "Task run 'monitor' -   action: alarm raised" in output
    assert f"{MONITOR} breached: {BREACH} emitted" in output
    [report_file] = Path(summary["run_folder"]).glob(f"artifacts/{MONITOR}/*/monitor/report")
    report = json.loads(report_file.read_text())
    assert (report["version"], report["breached"]) == (version, ["checks"])
    assert report["run_id"] == report_file.parent.parent.name  # the flow run's id
    assert f"mlspec.monitor.{MONITOR}" in version_tags(registry_uri, version)


@pytest.fixture
def loop_server(tmp_path: Path, template_db: Path) -> Iterator[tuple[Server, Path, str]]:
    """A server with its event services and a process worker, whose flow runs use a registry
    with a champion that records its training data."""
    base = tmp_path / "prefect"
    artifacts = base / "artifacts"
    artifacts.mkdir(parents=True)
    shutil.copyfile(template_db, base / "registry.db")
    registry_uri = f"sqlite:///{base / 'registry.db'}"
    with with_process_worker(
        base,
        "mlspec",
        server_env={"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": str(FLUSH_SECONDS)},
        MLFLOW_TRACKING_URI=registry_uri,
        MLSPEC_ARTIFACT_ROOT=str(artifacts),
    ) as (url, worker_log):
        yield Server(url), worker_log, registry_uri


@pytest.mark.slow
def test_a_breach_starts_the_training_deployment_and_clean_inputs_nothing(
    loop_server: tuple[Server, Path, str], tmp_path: Path
) -> None:
    prefect, worker_log, registry_uri = loop_server
    started = time.monotonic()
    version = champion(registry_uri, tmp_path)
    served = tmp_path / "served"
    training, monitor = loop_specs(tmp_path / "specs", served)
    flow_dir = tmp_path / "flows"
    flow_dir.mkdir()
    output = deploy(prefect.url, training, flow_dir)
    assert f"create    triggers of deployment {MODEL}/{MODEL}" in output, output
    deploy(prefect.url, monitor, flow_dir)
    with prefect.client() as client:
        owner = f"prefect.deployment.{prefect.deployment(f'{MODEL}/{MODEL}').id}"
        assert [a.name for a in client.read_resource_related_automations(owner)] == [TRIGGER]
    deployed = time.monotonic()

    def log() -> str:
        return worker_log.read_text()[-4000:]

    # clean inputs: the monitor passes, emits nothing, and nothing starts
    serving.served_inputs(served / "inputs", drifted=False)
    serving.feedback(served / "feedback", wrong_share=0.0)
    clean = prefect.run(f"{MONITOR}/{MONITOR}")
    assert (clean.state.type.value, clean.state.name) == ("COMPLETED", "Completed"), log()
    time.sleep(FLUSH_SECONDS + 2)  # an emitted event would be kept by now, and have started a run
    assert prefect.events(BREACH) == []
    assert prefect.runs(f"{MODEL}/{MODEL}") == []
    clean_done = time.monotonic()

    # drifted inputs: the monitor breaches, emits its alarm, and the training deployment runs
    serving.served_inputs(served / "inputs", drifted=True)
    drifted = prefect.run(f"{MONITOR}/{MONITOR}")
    assert (drifted.state.type.value, drifted.state.name) == ("COMPLETED", "Breached"), log()
    [event] = prefect.events(BREACH, least=1)
    assert event["resource"]["prefect.resource.id"] == f"mlspec.monitor.{MONITOR}"
    assert event["payload"] == {"model": MODEL, "alias": "champion", "run_id": str(drifted.id)}
    retrained = prefect.finished(lambda: prefect.runs(f"{MODEL}/{MODEL}"))
    assert (retrained.state.type.value, retrained.state.name) == ("COMPLETED", "Completed"), log()
    # the new model went through the gates and was promoted; the breach is on the champion
    assert aliases(registry_uri, MODEL) == {"champion": version, "challenger": "2"}
    assert f"mlspec.monitor.{MONITOR}" in version_tags(registry_uri, version)
    assert len(prefect.runs(f"{MODEL}/{MODEL}")) == 1
    done = time.monotonic()
    print(
        f"\ntimes: deploy {deployed - started:.1f} s, clean {clean_done - deployed:.1f} s, "
        f"breach and retraining {done - clean_done:.1f} s, total {done - started:.1f} s"
    )
