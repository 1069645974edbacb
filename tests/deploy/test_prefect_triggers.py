"""Triggers on Prefect: events, deployment triggers and data watchers, read by Prefect itself.

Fast: prefect.yaml read back by PyYAML and by the models `prefect deploy` validates it with
(the deployment triggers by Prefect's DeploymentTriggerTypes), the watcher flow loaded by
Prefect's entrypoint loader, and what `mlspec deploy` would apply.

Slow (the loop, one test): a real Prefect server with its event services and a process worker
(support/prefect_server.py). The flagship and a small consumer beside it are deployed with
`mlspec deploy`; a flagship run that promotes starts the consumer through the automation on
`mlspec.pipeline.promoted`; a file written into the watched folder makes the watcher emit
`mlspec.data.arrived`, which starts the consumer again; a second look with nothing new emits
nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.prefect_flagship import variant
from support.prefect_server import Server, deploy, with_process_worker

from mlspec.backends.prefect import PrefectBackend
from mlspec.compiler import analyze_file
from mlspec.deploy.common import Request, content_version
from mlspec.deploy.prefect import offline_plan
from mlspec.deploy.prefect import settings as prefect_settings
from mlspec.deploy.prefect import wanted as prefect_wanted
from mlspec.run.local_registry import aliases

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = PRODUCER = "breast-cancer-classifier"
CONSUMER = "retrain-on-promotion"
# How often the server's event persister writes the events it received.
FLUSH_SECONDS = 1
STEPS = """def note(out: str) -> dict:
    with open(out, "w") as handle:
        handle.write("retrained\\n")
    return {}
"""


def consumer_spec(folder: Path, watched: Path, alias: str = "challenger") -> Path:
    """A one-step pipeline beside the flagship, started by its promotion and by data."""
    (folder / "retrain").mkdir(parents=True, exist_ok=True)
    (folder / "retrain" / "__init__.py").write_text("")
    (folder / "retrain" / "steps.py").write_text(STEPS)
    spec = folder / "consumer.yaml"
    spec.write_text(
        f"""apiVersion: mlspec/v1
kind: Pipeline
metadata:
  name: {CONSUMER}
  version: 1.0.0
triggers:
  - pipeline: {{name: {PRODUCER}, promoted: {alias}}}
  - data: {{path: {watched}, every: 1m}}
steps:
  note:
    python: retrain.steps:note
    outputs: {{out: artifact}}
""",
        encoding="utf-8",
    )
    return spec


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the flagship, the consumer beside it, the folder it watches)."""
    watched = tmp_path / "incoming"
    watched.mkdir()
    flagship = variant(tmp_path / "specs")
    return flagship, consumer_spec(flagship.parent, watched), watched


def compiled(spec: Path) -> dict[str, str]:
    pipeline = analyze_file(spec).pipeline
    return {a.path: a.text for a in PrefectBackend().emit(pipeline)}


def test_prefect_reads_the_consumers_triggers_and_its_watcher(
    specs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.flows import load_flow_from_entrypoint

    _, consumer, watched = specs
    files = compiled(consumer)
    data = yaml.safe_load(files["prefect.yaml"])
    config = PrefectYamlModel.model_validate(data)
    pipeline, watcher = config.deployments
    assert pipeline.name == CONSUMER and pipeline.schedules is None
    promoted, arrived = _initialize_deployment_triggers(
        CONSUMER, data["deployments"][0]["triggers"]
    )
    assert isinstance(promoted, DeploymentEventTrigger)
    assert isinstance(arrived, DeploymentEventTrigger)
    assert promoted.expect == {"mlspec.pipeline.promoted"}
    assert promoted.match.model_dump() == {
        "prefect.resource.id": f"mlspec.pipeline.{PRODUCER}",
        "mlspec.alias": "challenger",
    }
    assert arrived.expect == {"mlspec.data.arrived"}
    assert arrived.match.model_dump() == {"prefect.resource.id": f"mlspec.data.{watched}"}
    assert (promoted.posture, promoted.threshold, promoted.within.total_seconds()) == (
        "Reactive",
        1,
        0,
    )
    # the watcher: its own deployment, every minute, on the path, from a flow Prefect loads
    assert watcher.parameters == {"path": str(watched)}
    assert data["deployments"][1]["schedules"] == [{"interval": 60, "active": True}]
    assert watcher.triggers is None
    for path, text in files.items():
        (tmp_path / "out" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / path).write_text(text)
    file, _, function = str(watcher.entrypoint).partition(":")
    flow = load_flow_from_entrypoint(f"{tmp_path / 'out' / file}:{function}")
    assert flow.name == f"{CONSUMER}-watch"
    assert list(flow.parameters.model_dump()["properties"]) == ["path"]


def test_the_producer_announces_its_promotions_and_has_no_triggers(
    specs: tuple[Path, Path, Path],
) -> None:
    flagship = specs[0]
    files = compiled(flagship)
    [deployment] = yaml.safe_load(files["prefect.yaml"])["deployments"]
    assert "triggers" not in deployment
    flow = files["breast_cancer_classifier.py"]
    assert "PROMOTED_EVENT = 'mlspec.pipeline.promoted'" in flow
    assert f"PROMOTED_RESOURCE = 'mlspec.pipeline.{PRODUCER}'" in flow
    assert not any(path.endswith("_watch.py") for path in files)


def test_a_path_prefect_would_read_as_a_prefix_is_refused(tmp_path: Path) -> None:
    spec = consumer_spec(variant(tmp_path).parent, tmp_path / "incoming*")
    pipeline = analyze_file(spec).pipeline
    [problem] = [d for d in PrefectBackend().check(pipeline) if d.code == "MS301"]
    assert problem.span.line == 8
    assert "prefix" in problem.message


def test_a_hostile_path_stays_text_in_the_watcher_and_prefect_yaml(tmp_path: Path) -> None:
    """Quotes, a backslash, `#` and `$`: a Python literal in the watcher, a YAML string."""
    import ast

    hostile = '/data/it\'s "new" #1 \\ $HOME'
    spec = consumer_spec(variant(tmp_path).parent, Path("/x"))
    text = spec.read_text().replace("path: /x,", f"path: {json.dumps(hostile)},")
    spec.write_text(text)
    files = compiled(spec)
    watcher = yaml.safe_load(files["prefect.yaml"])["deployments"][1]
    assert watcher["parameters"] == {"path": hostile}
    module = ast.parse(files["retrain_on_promotion_watch.py"])
    [watched] = [
        ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "WATCHED"
    ]
    assert watched == [hostile]


def test_a_manual_pipeline_has_neither_schedule_nor_trigger(tmp_path: Path) -> None:
    spec = consumer_spec(variant(tmp_path).parent, Path("/x"))
    text = spec.read_text()
    text = (
        text[: text.index("triggers:")]
        + "triggers:\n  - manual: true\n"
        + text[text.index("steps:") :]
    )
    spec.write_text(text)
    files = compiled(spec)
    [deployment] = yaml.safe_load(files["prefect.yaml"])["deployments"]
    assert "schedules" not in deployment and "triggers" not in deployment
    assert not any(path.endswith("_watch.py") for path in files)


def request_for(spec: Path, flow_dir: Path) -> Request:
    pipeline = analyze_file(spec).pipeline
    artifacts = tuple(PrefectBackend().emit(pipeline))
    settings: dict[str, str | None] = {
        "prefect_api_url": "http://127.0.0.1:4200/api",
        "prefect_work_pool": None,
        "prefect_flow_dir": str(flow_dir),
    }
    return Request(str(spec), pipeline, artifacts, content_version(artifacts), settings)


def test_deploy_applies_the_watchers_interval_and_the_triggers(
    specs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    request = request_for(specs[1], tmp_path)
    settings = prefect_settings.settings_from(request)
    pipeline, watcher = prefect_wanted.wanted_from(request, settings)
    assert [t.name for t in pipeline.triggers] == [
        f"mlspec {CONSUMER}: after {PRODUCER} promoted a model to challenger",
        f"mlspec {CONSUMER}: after data arrived at {specs[2]}",
    ]
    assert [str(s) for s in watcher.schedules] == ["every 60 s"]
    assert watcher.full_name == f"{CONSUMER}-watch/{CONSUMER}-watch-1"
    lines = [str(a) for a in offline_plan(request).actions]
    assert any(f"triggers of deployment {CONSUMER}/{CONSUMER}" in line for line in lines), lines
    assert any("every 60 s" in line for line in lines), lines


# -- slow: the loop on a real server and process worker ---------------------------------------


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    template_db: Path,
    create_model: Callable[[str, str], None],
) -> Iterator[tuple[Server, Path, str]]:
    base = tmp_path_factory.mktemp("prefect-triggers")
    artifacts = base / "artifacts"
    artifacts.mkdir()
    shutil.copyfile(template_db, base / "registry.db")
    registry_uri = f"sqlite:///{base / 'registry.db'}"
    create_model(registry_uri, MODEL)
    with with_process_worker(
        base,
        "mlspec",
        server_env={"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": str(FLUSH_SECONDS)},
        MLFLOW_TRACKING_URI=registry_uri,
        MLSPEC_ARTIFACT_ROOT=str(artifacts),
    ) as (url, worker_log):
        yield Server(url), worker_log, registry_uri


@pytest.mark.slow
def test_a_promotion_and_arrived_data_start_the_consumer(
    server: tuple[Server, Path, str], tmp_path: Path
) -> None:
    prefect, worker_log, registry_uri = server
    started = time.monotonic()
    watched = tmp_path / "incoming"
    watched.mkdir()
    flagship = variant(tmp_path / "specs")
    consumer = consumer_spec(flagship.parent, watched)
    flow_dir = tmp_path / "flows"
    flow_dir.mkdir()
    deploy(prefect.url, flagship, flow_dir)
    output = deploy(prefect.url, consumer, flow_dir)
    assert f"create    triggers of deployment {CONSUMER}/{CONSUMER}" in output
    assert f"create    deployment {CONSUMER}-watch/{CONSUMER}-watch-1" in output
    assert "every 60 s" in output
    again = deploy(prefect.url, consumer, flow_dir)  # the automations are read back: same
    assert f"unchanged triggers of deployment {CONSUMER}/{CONSUMER}" in again, again
    with prefect.client() as client:
        owner = f"prefect.deployment.{prefect.deployment(f'{CONSUMER}/{CONSUMER}').id}"
        automations = client.read_resource_related_automations(owner)
    assert sorted(a.name for a in automations) == sorted(
        [
            f"mlspec {CONSUMER}: after data arrived at {watched}",
            f"mlspec {CONSUMER}: after {PRODUCER} promoted a model to challenger",
        ]
    )
    # a trigger removed from the spec: its automation goes, the other stays
    spec_text = consumer.read_text()
    consumer.write_text(spec_text.replace(f"  - data: {{path: {watched}, every: 1m}}\n", ""))
    fewer = deploy(prefect.url, consumer, flow_dir)
    assert f"update    triggers of deployment {CONSUMER}/{CONSUMER}" in fewer, fewer
    assert f"delete    deployment {CONSUMER}-watch/{CONSUMER}-watch-1" in fewer, fewer
    with prefect.client() as client:
        left = client.read_resource_related_automations(owner)
    assert [a.name for a in left] == [
        f"mlspec {CONSUMER}: after {PRODUCER} promoted a model to challenger"
    ]
    consumer.write_text(spec_text)
    deploy(prefect.url, consumer, flow_dir)
    deployed = time.monotonic()

    # the flagship promotes to challenger: its event starts the consumer
    producer = prefect.run(f"{PRODUCER}/{PRODUCER}")
    log = worker_log.read_text()[-4000:]
    assert producer.state.is_completed(), f"{producer.state}\n{log}"
    assert aliases(registry_uri, MODEL) == {"challenger": "1"}
    [promoted] = prefect.events("mlspec.pipeline.promoted", least=1)
    assert promoted["resource"]["prefect.resource.id"] == f"mlspec.pipeline.{PRODUCER}"
    assert promoted["resource"]["mlspec.alias"] == "challenger"
    first = prefect.finished(lambda: prefect.runs(f"{CONSUMER}/{CONSUMER}"))
    assert first.state.is_completed(), f"{first.state}\n{worker_log.read_text()[-4000:]}"
    promoted_loop = time.monotonic()

    # a file arrives: the watcher emits once, the consumer runs again; a second look: nothing
    (watched / "batch-1.csv").write_text("a,b\n1,2\n")
    look = prefect.run(f"{CONSUMER}-watch/{CONSUMER}-watch-1")
    assert look.state.is_completed(), f"{look.state}\n{worker_log.read_text()[-4000:]}"
    [arrived] = prefect.events("mlspec.data.arrived", least=1)
    assert arrived["resource"]["prefect.resource.id"] == f"mlspec.data.{watched}"

    def second_run() -> list[Any]:
        return [r for r in prefect.runs(f"{CONSUMER}/{CONSUMER}") if r.id != first.id]

    second = prefect.finished(second_run)
    assert second.state.is_completed(), f"{second.state}\n{worker_log.read_text()[-4000:]}"
    again_look = prefect.run(f"{CONSUMER}-watch/{CONSUMER}-watch-1")
    assert again_look.state.is_completed()
    # an event the second look emitted would be kept within a flush, and have started a run
    time.sleep(FLUSH_SECONDS + 2)
    assert len(prefect.events("mlspec.data.arrived")) == 1
    assert len(prefect.runs(f"{CONSUMER}/{CONSUMER}")) == 2
    data_loop = time.monotonic()

    # a flagship run whose model gate blocks promotes nothing, so it announces nothing
    blocked = prefect.run(f"{PRODUCER}/{PRODUCER}", min_auc=1.0)
    assert (blocked.state.type.value, blocked.state.name) == ("COMPLETED", "GateBlocked")
    time.sleep(FLUSH_SECONDS + 2)
    assert len(prefect.events("mlspec.pipeline.promoted")) == 1
    assert len(prefect.runs(f"{CONSUMER}/{CONSUMER}")) == 2
    done = time.monotonic()
    print(
        f"\ntimes: deploy {deployed - started:.1f} s, promotion loop {promoted_loop - deployed:.1f}"
        f" s, data loop {data_loop - promoted_loop:.1f} s, blocked run {done - data_loop:.1f} s,"
        f" total {done - started:.1f} s"
    )
