"""`mlspec lineage` and `mlspec runs` against a real SQLite MLflow store written as the contract
(runtime/lineage.py) says: one run per pipeline run, namespaced tags, dataset inputs, gate
reports as artifacts, version tags pointing back. Ids and times are normalised for snapshots;
the Mermaid output is parsed by Mermaid itself (tests/support/mermaid.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support import mermaid

from mlspec.cli import main
from mlspec.runtime import lineage as contract
from mlspec.runtime import registry
from mlspec.runtime.rollback import REGISTRY_TAG_RESTORED_PREFIX

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

PIPELINE = "churn"
MODEL = "churn-model"
HOSTILE = 'evil "[model]" <b>|x'  # spec text: a model name with quotes, brackets, a pipe
START = 1_796_000_000_000  # 2026-11-29, ms
TRAIN_SHA = "a" * 64
RAW_SHA = "b" * 64

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: {name}, version: 1.2.0}}
defaults:
  code: {{image: ghcr.io/acme/churn@sha256:{digest}}}
  image: python:3.11-slim
steps:
  train:
    python: churn.steps:train
    outputs: {{model: model, auc: float}}
gates:
  model_quality:
    require:
      - {{metric: train.auc, min: 0.9}}
registry:
  mlflow: {{registered_model: {model}, tracking_uri: "{uri}"}}
  model: train.model
  promote:
    - {{alias: challenger, after: [model_quality]}}
"""


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def gate_report(gate: str, passed: bool) -> str:
    checks = [
        {"check": "metric", "subject": "train.auc", "measured": 0.97 if passed else 0.61,
         "threshold": ">= 0.9", "passed": passed, "detail": ""},
        {"check": "row_count", "subject": "ingest.train", "measured": 500.0,
         "threshold": ">= 300", "passed": True, "detail": ""},
    ]  # fmt: skip
    return json.dumps({"gate": gate, "kind": "model", "passed": passed, "checks": checks})


def dataset(name: str, sha: str, rows: int | None, columns: list[list[str]] | None, readers):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    schema = (
        None
        if columns is None
        else {"mlflow_colspec": [{"name": n, "type": t} for n, t in columns]}
    )
    profile = {"sha256": sha, "bytes": 1234, "files": 1 if rows else 3, "rows": rows}
    found = Dataset(
        name=name,
        digest=sha[:32],
        source_type="local",
        source=json.dumps({"uri": f"/data/{name}"}),
        schema=None if schema is None else json.dumps(schema),
        profile=json.dumps(profile),
    )
    return DatasetInput(found, [InputTag(contract.DATASET_CONTEXT_TAG, ",".join(readers))])


def write_run(
    uri: str,
    folder: Path,
    *,
    pipeline_run: str,
    start: int,
    gates: dict[str, bool],
    recorded: bool = True,
    reports: bool = True,
    spec_name: str = PIPELINE,
    git: bool = True,
    promoted: dict[str, str] | None = None,
    status: str = "FINISHED",
) -> str:
    """One pipeline run's MLflow run, keyed and shaped as runtime/lineage.py says."""
    mlflow = client(uri)
    found = mlflow.get_experiment_by_name(PIPELINE)
    experiment = (
        found.experiment_id
        if found
        else mlflow.create_experiment(PIPELINE, artifact_location=(folder / "artifacts").as_uri())
    )
    tags = {
        contract.TAG_PIPELINE_RUN: pipeline_run,
        contract.TAG_SPEC: spec_name,
        contract.TAG_SPEC_VERSION: "1.2.0",
        contract.TAG_SPEC_SHA256: "c" * 64,
        contract.TAG_SPEC_PATH: "specs/churn.yaml",
        contract.TAG_ENGINE: "prefect",
        contract.TAG_ENGINE_RUN_ID: f"flow-{pipeline_run}",
        contract.TAG_CODE_PREFIX + "train": "churn-steps@sha256:" + "d" * 64,
        contract.TAG_CODE_PREFIX + "ingest": "churn-steps@sha256:" + "d" * 64,
        contract.TAG_CODE_GIT: "https://github.com/acme/churn@" + "e" * 40 + ":compiled",
    }
    if git:
        tags[contract.TAG_GIT_COMMIT] = "f" * 40
    for gate, passed in gates.items():
        tags[contract.TAG_GATE_PREFIX + gate] = "passed" if passed else "blocked"
    for alias, version in (promoted or {}).items():
        tags[contract.TAG_PROMOTED_PREFIX + alias] = version
    if recorded:
        tags[contract.TAG_LINEAGE] = "recorded"
        tags[contract.TAG_OUTPUT_PREFIX + "ingest.source"] = "warehouse"
    run = mlflow.create_run(experiment, start_time=start, tags=tags)
    run_id = run.info.run_id
    mlflow.log_param(run_id, "threshold", "0.9")
    mlflow.log_metric(run_id, "train.auc", 0.97 if all(gates.values()) else 0.61)
    mlflow.log_inputs(
        run_id,
        datasets=[
            dataset("ingest.train", TRAIN_SHA, 500, [["age", "long"], ["churned", "boolean"]],
                    ["model_quality", "train"]),
            dataset("ingest.raw", RAW_SHA, None, None, []),
        ],
    )  # fmt: skip
    if reports:
        for gate, passed in gates.items():
            path = folder / f"{gate}.json"
            path.write_text(gate_report(gate, passed))
            mlflow.log_artifact(run_id, str(path), "gates")
    mlflow.set_terminated(run_id, status, end_time=start + 90_000)
    return run_id


def register(uri: str, model: str, run_id: str | None, tags: dict[str, str]) -> str:
    mlflow = client(uri)
    if not mlflow.search_registered_models(f"name = {registry._quote(model)}"):
        mlflow.create_registered_model(model)
    if run_id is not None:
        tags = {**tags, contract.VERSION_TAG_TRACKING_RUN: run_id,
                contract.VERSION_TAG_MODEL_SHA256: "9" * 64}  # fmt: skip
    number = len(mlflow.search_model_versions(f"name = {registry._quote(model)}")) + 1
    created = mlflow.create_model_version(model, f"s3://models/{number}", run_id=run_id, tags=tags)
    return str(created.version)


def promoted_by(by: str, rule: list[str], **more: object) -> str:
    return json.dumps({"by": by, "pipeline_run": None, "actor": None, "rule": rule,
                       "rollout": None, "at": "2026-11-29T10:00:00+00:00", **more})  # fmt: skip


@pytest.fixture
def store(uri: str, tmp_path: Path) -> dict[str, str]:
    """Version 1: registered before lineage. Version 2: a whole chain, promoted by the
    pipeline and by `mlspec promote`, then rolled back from. Version 3: a run that stopped
    before its steps were recorded and whose reports were not uploaded. A blocked run."""
    v1 = register(uri, MODEL, None, {
        registry.REGISTRY_TAG_SPEC: PIPELINE, registry.REGISTRY_TAG_SPEC_VERSION: "1.0.0",
        registry.REGISTRY_TAG_RUN_ID: "churn/old",
        registry.REGISTRY_TAG_GATE_PREFIX + "model_quality": "passed",
    })  # fmt: skip
    a = write_run(uri, tmp_path, pipeline_run="churn/a", start=START,
                  gates={"model_quality": True}, promoted={"challenger": "2"})  # fmt: skip
    v2 = register(uri, MODEL, a, {
        registry.REGISTRY_TAG_RUN_ID: "churn/a", registry.REGISTRY_TAG_SPEC: PIPELINE,
        registry.REGISTRY_TAG_GATE_PREFIX + "model_quality": "passed",
        contract.VERSION_TAG_PROMOTED_BY_PREFIX + "challenger":
            promoted_by("pipeline", ["model_quality"], pipeline_run="churn/a"),
        contract.VERSION_TAG_PROMOTED_BY_PREFIX + "champion": promoted_by(
            "mlspec promote", ["model_quality"], actor="alice", rollout="passed",
            at="2026-11-30T09:00:00+00:00"),
        registry.REGISTRY_TAG_PREVIOUS_PREFIX + "champion": v1,
        registry.REGISTRY_TAG_ROLLED_BACK_PREFIX + "champion": f"to version {v1}: auc fell",
    })  # fmt: skip
    mlflow = client(uri)
    mlflow.set_model_version_tag(MODEL, v1, REGISTRY_TAG_RESTORED_PREFIX + "champion",
                                 f"from version {v2}: auc fell")  # fmt: skip
    mlflow.set_registered_model_alias(MODEL, "champion", v1)
    mlflow.set_registered_model_alias(MODEL, "challenger", v2)
    b = write_run(uri, tmp_path, pipeline_run="churn/b", start=START + 3_600_000,
                  gates={"model_quality": True}, recorded=False, reports=False, git=False,
                  status="FAILED")  # fmt: skip
    v3 = register(uri, MODEL, b, {registry.REGISTRY_TAG_RUN_ID: "churn/b"})
    c = write_run(uri, tmp_path, pipeline_run="churn/c", start=START + 7_200_000,
                  gates={"model_quality": False})  # fmt: skip
    h = write_run(uri, tmp_path, pipeline_run="churn/h", start=START - 3_600_000,
                  gates={"model_quality": True}, spec_name=HOSTILE)  # fmt: skip
    register(uri, HOSTILE, h, {contract.VERSION_TAG_PROMOTED_BY_PREFIX + "champion":
                               promoted_by("pipeline", ["model_quality"])})  # fmt: skip
    return {"uri": uri, "v1": v1, "v2": v2, "v3": v3, "a": a, "b": b, "c": c, "h": h}


def invoke(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def normalise(text: str, store: dict[str, str]) -> str:
    for key in ("a", "b", "c", "h"):
        text = text.replace(store[key], f"<run {key}>")
    return text.replace(store["uri"], "<uri>")


def lineage(store: dict[str, str], selector: str, *more: object) -> Result:
    return invoke("lineage", selector, "--tracking-uri", store["uri"], *more)


@pytest.mark.parametrize("fmt", ["text", "json", "mermaid"])
def test_whole_chain(store, fmt, snapshot):
    """Version 2 by its number: run, spec and commit, code, datasets, gates, promotions and
    the rollback, in each format."""
    result = lineage(store, f"{MODEL}/{store['v2']}", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert normalise(result.output, store) == snapshot


def test_json_fields(store):
    """The JSON holds what the store holds, field by field: the reader drops nothing."""
    result = lineage(store, f"{MODEL}@challenger", "--format", "json")
    data = json.loads(result.output)
    assert list(data) == sorted(data)
    assert data["model"] | {"source": None} == {
        "name": MODEL, "version": store["v2"], "aliases": ["challenger"], "source": None,
        "sha256": "9" * 64, "pipeline_run": "churn/a",
    }  # fmt: skip
    assert data["run"]["id"] == store["a"]
    assert (data["run"]["engine"], data["run"]["engine_run_id"]) == ("prefect", "flow-churn/a")
    assert (data["run"]["status"], data["run"]["lineage_recorded"]) == ("FINISHED", True)
    assert data["run"]["start"] == "2026-11-30T00:53:20+00:00"
    assert data["spec"] == {"name": PIPELINE, "version": "1.2.0", "sha256": "c" * 64,
                            "path": "specs/churn.yaml", "git_commit": "f" * 40}  # fmt: skip
    assert data["code"]["steps"] == {"ingest": "churn-steps@sha256:" + "d" * 64,
                                     "train": "churn-steps@sha256:" + "d" * 64}  # fmt: skip
    train = next(d for d in data["datasets"] if d["name"] == "ingest.train")
    assert (train["sha256"], train["digest"], train["rows"]) == (TRAIN_SHA, TRAIN_SHA[:32], 500)
    assert train["columns"] == [["age", "long"], ["churned", "boolean"]]
    assert train["readers"] == ["model_quality", "train"]
    assert data["gates"] == [{"name": "model_quality", "verdict": "passed", "failed_checks": []}]
    champion = next(p for p in data["promotions"] if p["alias"] == "champion")
    assert (champion["by"], champion["actor"], champion["rollout"]) == (
        "mlspec promote", "alice", "passed")  # fmt: skip
    assert champion["rule"] == ["model_quality"]
    events = {(r["alias"], r["event"]) for r in data["rollouts"]}
    assert events == {("champion", "previous"), ("champion", "rolled_back")}
    assert data["missing"] == []


def test_alias_names_the_version(store):
    """champion was rolled back to version 1: @champion is version 1, registered before
    lineage, which the output says instead of leaving out."""
    data = json.loads(lineage(store, f"{MODEL}@champion", "--format", "json").output)
    assert data["model"]["version"] == store["v1"]
    assert data["run"] is None
    assert (
        "no tracking run: registered before lineage, or tracking was unavailable" in data["missing"]
    )
    assert data["gates"] == [{"name": "model_quality", "verdict": "passed", "failed_checks": None}]
    assert data["spec"]["version"] == "1.0.0"
    assert data["rollouts"] == [
        {
            "alias": "champion",
            "event": "restored",
            "detail": f"from version {store['v2']}: auc fell",
        }
    ]


def test_incomplete_run_says_what_is_missing(store, snapshot):
    """MODEL alone is its latest version (3): its run stopped before the steps were recorded,
    uploaded no gate report, knew no git commit, and nothing promoted the version."""
    result = lineage(store, MODEL)
    assert result.exit_code == 0, result.output
    assert f"version {store['v3']}" in result.output
    missing = [line for line in result.output.splitlines() if line.startswith("missing")]
    assert missing == [
        "missing   steps not recorded: the run stopped before every step ran",
        "missing   gate model_quality: its report artifact gates/model_quality.json is missing",
        "missing   no git commit recorded: the spec was not in a git repository",
        "missing   no promotion recorded on this version",
    ]
    assert normalise(result.output, store) == snapshot


def test_blocked_gate_lists_failed_checks(store, uri):
    """A blocked gate's failed checks come from its report artifact."""
    register(uri, MODEL, store["c"], {})  # a version of the blocked run, for the reader
    data = json.loads(lineage(store, MODEL, "--format", "json").output)
    assert data["gates"] == [
        {"name": "model_quality", "verdict": "blocked", "failed_checks": ["metric train.auc"]}
    ]


def test_hostile_names_stay_text(store, snapshot):
    """A model and spec name with quotes, brackets and a pipe: text in every format, and one
    node in Mermaid that holds the whole name."""
    for fmt in ("text", "json"):
        result = lineage(store, f"{HOSTILE}/1", "--format", fmt)
        assert result.exit_code == 0, result.output
        if fmt == "text":
            assert f"model     {HOSTILE} version 1" in result.output
        else:
            data = json.loads(result.output)
            assert data["model"]["name"] == data["spec"]["name"] == HOSTILE
    diagram = lineage(store, f"{HOSTILE}/1", "--format", "mermaid").output
    assert normalise(diagram, store) == snapshot
    [parsed] = mermaid.parse([diagram])
    assert parsed["ok"], parsed
    texts = {v["id"]: v["text"] for v in parsed["vertices"]}
    assert "&#34;" in texts["version"] and "&#91;model&#93;" in texts["version"]
    assert "spec evil &#34;&#91;model&#93;&#34; &#60;b&#62;&#124;x 1.2.0" in texts["spec"]


def test_mermaid_parses_with_mermaid(store):
    """Every diagram the reader can draw (whole chain, legacy version, incomplete run) parses,
    with one vertex per node it wrote and every edge between them."""
    diagrams = [
        lineage(store, sel, "--format", "mermaid").output
        for sel in (f"{MODEL}/{store['v2']}", f"{MODEL}@champion", MODEL)
    ]
    for diagram, parsed in zip(diagrams, mermaid.parse(diagrams), strict=True):
        assert parsed["ok"], parsed
        assert parsed["type"] == "flowchart-v2"
        lines = [line for line in diagram.splitlines()[1:] if "-->" not in line]
        nodes = {re.match(r"\s+(\w+)", line)[1] for line in lines}
        assert {v["id"] for v in parsed["vertices"]} == nodes
        assert len(parsed["edges"]) == diagram.count("-->")


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("nosuch", "model 'nosuch' is not registered at registry <uri>"),
        (f"{MODEL}@nosuch",
         "model 'churn-model' has no alias 'nosuch' (its aliases: challenger, champion)"),
        (f"{MODEL}/99", "model 'churn-model' has no version 99"),
    ],
)  # fmt: skip
def test_unknown_model_alias_version(store, selector, message):
    result = lineage(store, selector)
    assert result.exit_code == 3
    assert normalise(result.stderr, store) == f"error: {message}\n"
    assert result.stdout == ""


def test_unreachable_registry(tmp_path):
    missing = tmp_path / "nothing.db"
    result = invoke("lineage", f"{MODEL}@champion", "--tracking-uri", f"sqlite:///{missing}")
    assert result.exit_code == 3
    assert result.stderr == (
        f"error: registry sqlite:///{missing}: the SQLite database file {missing} does not exist\n"
    )
    closed = invoke("lineage", MODEL, "--tracking-uri", "http://127.0.0.1:9",
                    env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})  # fmt: skip
    assert closed.exit_code == 3
    assert closed.stderr.startswith("error: registry http://127.0.0.1:9: could not read")
    assert len(closed.stderr.splitlines()) == 1 and "Traceback" not in closed.output


@pytest.mark.parametrize("selector", ["@champion", f"{MODEL}@", "/3"])
def test_bad_selector_is_a_usage_error(selector):
    result = invoke("lineage", selector, "--tracking-uri", "sqlite:///x.db")
    assert result.exit_code == 2
    assert "write MODEL, MODEL@ALIAS or MODEL/VERSION" in result.stderr


def test_no_tracking_uri_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = invoke("lineage", MODEL)
    assert result.exit_code == 2
    assert "no tracking URI" in result.stderr


def test_uri_from_spec_then_environment(store, tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(SPEC.format(name=PIPELINE, digest="0" * 64, model=MODEL, uri=store["uri"]))
    by_spec = invoke("lineage", f"{MODEL}@challenger", "--spec", spec)
    by_env = invoke("lineage", f"{MODEL}@challenger", env={"MLFLOW_TRACKING_URI": store["uri"]})
    assert by_spec.exit_code == by_env.exit_code == 0, by_spec.output + by_env.output
    assert by_spec.output == by_env.output
    assert f"model     {MODEL} version {store['v2']}" in by_spec.output


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_runs(store, tmp_path, fmt, snapshot):
    """Newest first, with verdicts and promotions; --limit cuts the oldest."""
    spec = tmp_path / "churn.yaml"
    spec.write_text(SPEC.format(name=PIPELINE, digest="0" * 64, model=MODEL, uri=store["uri"]))
    result = invoke("runs", spec, "--limit", 3, "--format", fmt)
    assert result.exit_code == 0, result.output
    assert normalise(result.output, store) == snapshot
    if fmt == "json":
        listed = json.loads(result.output)["runs"]
        assert [r["id"] for r in listed] == [store["c"], store["b"], store["a"]]
        assert listed[0]["gates"] == {"model_quality": "blocked"}
        assert listed[2]["promoted"] == {"challenger": "2"}


def test_runs_of_an_untracked_pipeline(store, tmp_path):
    spec = tmp_path / "other.yaml"
    spec.write_text(SPEC.format(name="other", digest="0" * 64, model=MODEL, uri=store["uri"]))
    result = invoke("runs", spec)
    assert (result.exit_code, result.output) == (0, "no runs of pipeline other recorded\n")
    assert json.loads(invoke("runs", spec, "--format", "json").output) == {
        "pipeline": "other", "runs": []}  # fmt: skip


def test_runs_unreachable_registry(tmp_path):
    spec = tmp_path / "churn.yaml"
    missing = tmp_path / "nothing.db"
    spec.write_text(
        SPEC.format(name=PIPELINE, digest="0" * 64, model=MODEL, uri=f"sqlite:///{missing}")
    )
    result = invoke("runs", spec)
    assert result.exit_code == 3
    assert result.stderr == (
        f"error: registry sqlite:///{missing}: the SQLite database file {missing} does not exist\n"
    )


# --- written by the real writers (runtime/lineage.py, steps.promotion_step, mlspec promote) ----

FLAGSHIP = Path(__file__).resolve().parents[1] / "examples" / "breast-cancer" / "pipeline.yaml"
FLAGSHIP_MODEL = "breast-cancer-classifier"


def flagship_run(uri: str, folder: Path, number: int, train_rows: list[str]) -> dict[str, Path]:
    """One run of the flagship as its tracked tasks record it, with the runtime's own writers and
    what the compiler hands them (identity, dataset_readers, gate_datasets): every gate passes
    and the challenger promotion registers the model."""
    from mlspec.backends.lineage import dataset_readers, gate_datasets, identity
    from mlspec.compiler import analyze_file
    from mlspec.runtime import lineage as writer
    from mlspec.runtime.report import GateReport, write_gate_report
    from mlspec.runtime.steps import promotion_step

    pipeline = analyze_file(str(FLAGSHIP)).pipeline
    folder.mkdir()
    files = {
        "ingest.train": "mean_radius,target\n" + "".join(f"{row}\n" for row in train_rows),
        "ingest.test": "mean_radius,target\n14.2,0\n",
        "ingest.reference": "mean_radius,target\n13.0,1\n",
        "train.model": f"model of run {number}",
    }
    paths = {name: folder / name for name in files}
    for name, text in files.items():
        paths[name].write_text(text)
    readers = dataset_readers(pipeline)
    pipeline_run = f"{pipeline.name}/{number}"
    run = writer.open_run(
        uri,
        identity=identity(pipeline),
        pipeline_run=pipeline_run,
        engine="prefect",
        engine_run_id=f"flow-{number}",
        params={"min_auc": 0.95},
    )
    assert run
    reports = []
    for gate in pipeline.gates:
        report = folder / f"{gate.name}.json"
        write_gate_report(GateReport(gate.name, gate.kind, True, []), str(report))
        read = [
            {"name": n, "path": str(paths[n]), "readers": readers[n]}
            for n in gate_datasets(pipeline, gate)
        ]
        writer.record_gate(uri, run, str(report), read)
        reports.append(str(report))
    every = [{"name": n, "path": str(paths[n]), "readers": r} for n, r in readers.items()]
    writer.record_steps(uri, run, {"evaluate.auc": 0.99, "evaluate.accuracy": 0.95}, every)
    [rule] = [r for r in pipeline.registry.rules if r.alias == "challenger"]
    version = promotion_step(
        uri,
        FLAGSHIP_MODEL,
        str(paths["train.model"]),
        alias="challenger",
        rule_gates=list(rule.gates),
        report_paths=reports,
        run_id=pipeline_run,
        spec_name=pipeline.name,
        spec_version=pipeline.version,
        metrics={"evaluate.auc": 0.99},
        tracking={"uri": uri, "run": run, "by": {"by": "pipeline", "pipeline_run": pipeline_run}},
    )
    assert version == str(number)
    writer.close_run(uri, run, succeeded=True)
    return paths


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lineage_of_runs_the_runtime_recorded(uri, tmp_path, monkeypatch, create_model):
    """Two flagship runs whose training data differ in one row: each version's lineage holds
    the fingerprints of its own data (hashes computed here), the spec's hash, the verdicts, and
    the promotions by the pipeline and by `mlspec promote` with its actor."""
    from mlspec.compiler import analyze_file

    create_model(uri, FLAGSHIP_MODEL)
    monkeypatch.setenv("MLSPEC_ACTOR", "alice")
    rows = ["17.99,0", "20.57,0", "11.42,1"]
    first = flagship_run(uri, tmp_path / "1", 1, rows)
    second = flagship_run(uri, tmp_path / "2", 2, [*rows[:2], "11.43,1"])
    promoted = invoke(
        "promote", FLAGSHIP, "--alias", "champion", "--version", "2", "--rollout-passed",
        "--tracking-uri", uri,
    )  # fmt: skip
    assert promoted.exit_code == 0, promoted.output
    pipeline = analyze_file(str(FLAGSHIP)).pipeline
    seen = {}
    for number, paths in ((1, first), (2, second)):
        data = json.loads(
            invoke(
                "lineage", f"{FLAGSHIP_MODEL}/{number}", "--tracking-uri", uri, "--format", "json"
            ).output
        )
        assert data["missing"] == []
        assert data["model"]["sha256"] == sha256(paths["train.model"])
        assert data["spec"]["sha256"] == pipeline.spec_sha256
        assert data["spec"]["git_commit"] == "4e1c2a7b9d0f3e5a6b8c1d2e4f6a8b0c2d4e6f8a"
        assert data["run"]["engine_run_id"] == f"flow-{number}"
        assert data["run"]["status"] == "FINISHED" and data["run"]["lineage_recorded"]
        train = next(d for d in data["datasets"] if d["name"] == "ingest.train")
        assert train["sha256"] == sha256(paths["ingest.train"])
        assert (train["rows"], train["columns"]) == (
            3,
            [["mean_radius", "float"], ["target", "int"]],
        )
        assert train["readers"] == ["data_quality", "train"]
        assert {g["name"]: g["verdict"] for g in data["gates"]} == {
            "data_quality": "passed", "model_quality": "passed", "servable": "passed"}  # fmt: skip
        challenger = next(p for p in data["promotions"] if p["alias"] == "challenger")
        assert challenger["rule"] == ["data_quality", "model_quality", "servable"]
        assert challenger["by"] == "pipeline"
        assert challenger["pipeline_run"] == f"{pipeline.name}/{number}"
        seen[number] = train["sha256"]
    assert seen[1] != seen[2]  # one training row changed
    champion = next(p for p in data["promotions"] if p["alias"] == "champion")
    assert (champion["by"], champion["actor"], champion["rollout"]) == (
        "mlspec promote",
        "alice",
        "passed",
    )
    assert champion["rule"] == ["model_quality"]
    runs = json.loads(invoke("runs", FLAGSHIP, "--tracking-uri", uri, "--format", "json").output)
    assert [r["engine_run_id"] for r in runs["runs"]] == ["flow-2", "flow-1"]
    assert runs["runs"][0]["promoted"] == {"challenger": "2", "champion": "2"}


def test_runs_of_a_spec_without_a_registry(tmp_path):
    spec = tmp_path / "plain.yaml"
    spec.write_text(
        SPEC.format(name="plain", digest="0" * 64, model=MODEL, uri="x").split("registry:")[0]
    )
    result = invoke("runs", spec)
    assert result.exit_code == 2
    assert "has no registry section: its runs are not tracked" in result.stderr
