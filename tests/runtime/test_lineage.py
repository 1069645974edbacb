"""Runtime lineage against a real MLflow tracking store and registry on SQLite: one MLflow run
per pipeline run, read back with MlflowClient; fingerprints against hashes computed here."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import pytest

from mlspec.runtime import lineage
from mlspec.runtime.registry import RegistryError
from mlspec.runtime.report import CheckResult, GateReport, write_gate_report
from mlspec.runtime.steps import data_gate_step, promotion_step

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = "churn"
IDENTITY = {
    "pipeline": "churn-pipeline",
    "spec_version": "3",
    "spec_sha256": "5" * 64,
    "spec_path": "specs/churn.yaml",
    "code": {"train": "churn_steps@sha256:" + "a" * 64},
    "git": "git@github.com:acme/ml.git@0123abcd:compiled",
}
CSV = "age,income,churned,city\n31,52000.5,true,Oslo\n45,61000,false,\n,70000,1,Bergen\n"


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def open_run(uri: str | None, pipeline_run: str = "churn-pipeline/run-1", **extra) -> str:
    arguments = {
        "identity": IDENTITY,
        "pipeline_run": pipeline_run,
        "engine": "airflow",
        "engine_run_id": pipeline_run.rpartition("/")[2],
        "params": {"min_auc": 0.9, "seed": 7, "fast": True},
    }
    return lineage.open_run(uri, **(arguments | extra))


def tracking_lines(out: str) -> list[dict]:
    return [
        json.loads(line.removeprefix(lineage.TRACKING_LINE))
        for line in out.splitlines()
        if line.startswith(lineage.TRACKING_LINE)
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://alice:s3cret@127.0.0.1:{port}"


def test_open_run_is_one_run_per_pipeline_run_with_its_identity(
    uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.monotonic()
    run_id = open_run(uri)
    took = time.monotonic() - start
    assert run_id
    assert open_run(uri) == run_id  # a retried TRACK_TASK finds the run it created
    assert open_run(uri, "churn-pipeline/run-2") not in ("", run_id)
    assert tracking_lines(capsys.readouterr().out) == 3 * [
        {"task": lineage.TRACK_TASK, "recorded": True, "problem": None}
    ]
    found = client(uri).get_run(run_id)
    experiment = client(uri).get_experiment(found.info.experiment_id)
    assert experiment.name == "churn-pipeline"
    # Artifacts beside the database, not in whichever folder a worker runs in.
    database = Path(uri.removeprefix("sqlite:///"))
    assert experiment.artifact_location == (database.parent / "mlruns").as_uri()
    assert found.data.params == {"min_auc": "0.9", "seed": "7", "fast": "true"}
    expected = {
        lineage.TAG_PIPELINE_RUN: "churn-pipeline/run-1",
        lineage.TAG_SPEC: "churn-pipeline",
        lineage.TAG_SPEC_VERSION: "3",
        lineage.TAG_SPEC_SHA256: "5" * 64,
        lineage.TAG_SPEC_PATH: "specs/churn.yaml",
        lineage.TAG_ENGINE: "airflow",
        lineage.TAG_ENGINE_RUN_ID: "run-1",
        lineage.TAG_GIT_COMMIT: "0123abcd",
        lineage.TAG_CODE_GIT: IDENTITY["git"],
        lineage.TAG_CODE_PREFIX + "train": IDENTITY["code"]["train"],  # type: ignore[index]
        "mlflow.source.git.commit": "0123abcd",
        "mlflow.source.name": "specs/churn.yaml",
        "mlflow.runName": "run-1",
    }
    assert {k: found.data.tags.get(k) for k in expected} == expected
    assert found.info.status == "RUNNING"
    assert lineage.find_run(uri, "churn-pipeline", "churn-pipeline/run-1") == run_id
    assert lineage.find_run(uri, "churn-pipeline", "churn-pipeline/run-404") == ""
    assert lineage.find_run(uri, "no-such-pipeline", "x/1") == ""
    assert took < 10  # ~0.2 s on SQLite, with the store's first connection


def test_the_commit_comes_from_the_worker_without_git_delivery(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSPEC_GIT_COMMIT", "feedface")
    run_id = open_run(uri, identity={**IDENTITY, "git": None, "code": {}})
    tags = client(uri).get_run(run_id).data.tags
    assert tags[lineage.TAG_GIT_COMMIT] == tags["mlflow.source.git.commit"] == "feedface"
    assert lineage.TAG_CODE_GIT not in tags


def test_fingerprint_of_a_csv_file_is_its_sha256_rows_and_column_types(tmp_path: Path) -> None:
    path = tmp_path / "train"  # step outputs have no extension
    path.write_text(CSV)
    assert lineage.fingerprint(str(path)) == {
        "sha256": sha256(path),
        "bytes": len(CSV.encode()),
        "files": 1,
        "rows": 3,
        "columns": [["age", "int"], ["income", "float"], ["churned", "bool"], ["city", "str"]],
    }
    with pytest.MonkeyPatch.context() as patch:  # too big to read as a table: hashed only
        patch.setattr(lineage, "TABLE_BYTES_MAX", len(CSV.encode()) - 1)
        assert lineage.fingerprint(str(path))["sha256"] == sha256(path)
        assert lineage.fingerprint(str(path))["rows"] is None
    path.write_text(CSV.replace("45,61000", "46,61000"))  # one changed row
    assert lineage.fingerprint(str(path))["sha256"] == sha256(path)
    assert sha256(path) != hashlib.sha256(CSV.encode()).hexdigest()


def test_fingerprint_of_a_parquet_file_reads_its_shape_with_pyarrow(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "table"
    table = pa.table(
        {
            "n": pa.array([1, 0, None], pa.int64()),
            "x": pa.array([0.5, 2.0, 3.0]),
            "ok": pa.array([True, False, None]),
            "s": pa.array(["a", None, "c"]),
        }
    )
    pq.write_table(table, path)
    found = lineage.fingerprint(str(path))
    assert found["sha256"] == sha256(path)
    assert found["bytes"] == path.stat().st_size
    assert (found["files"], found["rows"]) == (1, 3)
    assert found["columns"] == [["n", "int"], ["x", "float"], ["ok", "bool"], ["s", "str"]]


def test_fingerprint_of_a_folder_or_a_non_table(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "b").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"\x00\x01")
    (folder / "b" / "c.txt").write_text("hello\n")
    expected = hashlib.sha256(
        f"a.bin\0{sha256(folder / 'a.bin')}\nb/c.txt\0{sha256(folder / 'b' / 'c.txt')}\n".encode()
    ).hexdigest()
    assert lineage.fingerprint(str(folder)) == {
        "sha256": expected,
        "bytes": 8,
        "files": 2,
        "rows": None,
        "columns": None,
    }
    assert lineage.content_sha256(str(folder)) == expected
    broken = tmp_path / "model.parquet"  # named like Parquet, not Parquet: no table
    broken.write_bytes(b"\x80pickle")
    assert lineage.fingerprint(str(broken))["columns"] is None
    ragged = tmp_path / "ragged"
    ragged.write_text("a,b\n1\n")
    assert lineage.fingerprint(str(ragged)) == {
        "sha256": sha256(ragged),
        "bytes": 6,
        "files": 1,
        "rows": None,
        "columns": None,
    }


def test_record_steps_logs_metrics_tags_and_dataset_inputs(
    uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = open_run(uri)
    data = tmp_path / "train"
    data.write_text(CSV)
    readers = ["train", "data_quality"]
    outputs = {"evaluate.auc": 0.97, "ingest.rows": 3, "train.kind": "forest", "train.ok": True}
    datasets = [{"name": "ingest.train", "path": str(data), "readers": readers}]
    lineage.record_steps(uri, run_id, outputs, datasets)
    assert tracking_lines(capsys.readouterr().out)[-1] == {
        "task": lineage.LINEAGE_TASK,
        "recorded": True,
        "problem": None,
    }
    found = client(uri).get_run(run_id)
    assert found.data.metrics == {"evaluate.auc": 0.97, "ingest.rows": 3.0}
    assert found.data.tags[lineage.TAG_OUTPUT_PREFIX + "train.kind"] == "forest"
    assert found.data.tags[lineage.TAG_OUTPUT_PREFIX + "train.ok"] == "true"
    assert found.data.tags[lineage.TAG_LINEAGE] == "recorded"
    [logged] = found.inputs.dataset_inputs
    dataset = logged.dataset
    assert dataset.name == "ingest.train"
    assert dataset.digest == sha256(data)[:32]  # what the store keeps, unshortened by it
    assert dataset.source_type == "local"
    assert json.loads(dataset.source) == {"uri": data.resolve().as_uri()}
    assert json.loads(dataset.profile) == {
        "sha256": sha256(data),
        "bytes": len(CSV.encode()),
        "files": 1,
        "rows": 3,
    }
    assert json.loads(dataset.schema) == {
        "mlflow_colspec": [
            {"name": "age", "type": "int"},
            {"name": "income", "type": "float"},
            {"name": "churned", "type": "bool"},
            {"name": "city", "type": "str"},
        ]
    }
    assert {t.key: t.value for t in logged.tags} == {
        lineage.DATASET_CONTEXT_TAG: "data_quality,train"
    }


def test_a_changed_row_is_a_new_dataset_input(uri: str, tmp_path: Path) -> None:
    data = tmp_path / "train"
    digests = []
    for number, text in enumerate([CSV, CSV.replace("Oslo", "Tromso")], start=1):
        data.write_text(text)
        run_id = open_run(uri, f"churn-pipeline/run-{number}")
        lineage.record_datasets(uri, run_id, [{"name": "ingest.train", "path": str(data)}])
        [logged] = client(uri).get_run(run_id).inputs.dataset_inputs
        assert json.loads(logged.dataset.profile)["sha256"] == sha256(data)
        digests.append(logged.dataset.digest)
    assert digests[0] != digests[1]


def test_a_missing_dataset_is_said_and_the_rest_recorded(
    uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = open_run(uri)
    data = tmp_path / "train"
    data.write_text(CSV)
    datasets = [
        {"name": "ingest.test", "path": str(tmp_path / "gone"), "readers": ["evaluate"]},
        {"name": "ingest.train", "path": str(data), "readers": ["train"]},
    ]
    lineage.record_steps(uri, run_id, {"evaluate.auc": 0.9}, datasets)
    [line] = tracking_lines(capsys.readouterr().out)[1:]
    assert line["recorded"] is False
    assert line["problem"].startswith("could not record the steps' outputs and datasets completely")
    assert "dataset ingest.test: FileNotFoundError" in line["problem"]
    found = client(uri).get_run(run_id)
    assert found.data.metrics == {"evaluate.auc": 0.9}
    assert [i.dataset.name for i in found.inputs.dataset_inputs] == ["ingest.train"]
    assert lineage.TAG_LINEAGE not in found.data.tags  # incomplete: not "recorded"


def test_a_gate_records_its_verdict_report_and_datasets(uri: str, tmp_path: Path) -> None:
    run_id = open_run(uri)
    data = tmp_path / "train"
    data.write_text(CSV)
    report = tmp_path / "report"
    tracking = {
        "uri": uri,
        "run": run_id,
        "datasets": [{"name": "ingest.train", "path": str(data), "readers": ["data_quality"]}],
    }
    checks = [{"kind": "row_count", "min": 5, "max": None}]
    assert data_gate_step("data_quality", str(data), checks, str(report)) is False
    lineage.record_gate(tracking["uri"], tracking["run"], str(report), tracking["datasets"])
    found = client(uri).get_run(run_id)
    assert found.data.tags[lineage.TAG_GATE_PREFIX + "data_quality"] == "blocked"
    assert [i.dataset.name for i in found.inputs.dataset_inputs] == ["ingest.train"]
    local = client(uri).download_artifacts(run_id, "gates/data_quality.json", str(tmp_path))
    assert Path(local).read_text() == report.read_text()
    assert json.loads(report.read_text())["passed"] is False


def test_close_run_ends_it_finished_or_failed(uri: str) -> None:
    first, second = open_run(uri), open_run(uri, "churn-pipeline/run-2")
    lineage.close_run(uri, first, succeeded=True)
    lineage.close_run(uri, second, succeeded=False)
    assert client(uri).get_run(first).info.status == "FINISHED"
    assert client(uri).get_run(second).info.status == "FAILED"


def test_without_a_tracking_server_nothing_raises_and_every_loss_is_said(
    closed_port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    write_gate_report(GateReport("data_quality", "data", True, []), str(report))
    start = time.monotonic()
    for uri in (closed_port, None):
        assert open_run(uri) == ""
        assert lineage.find_run(uri, "churn-pipeline", "churn-pipeline/run-1") == ""
        lineage.record_steps(uri, "abc", {"evaluate.auc": 0.9}, [])
        lineage.record_gate(uri, "abc", str(report), [])
        lineage.close_run(uri, "abc", succeeded=True)
    took = time.monotonic() - start
    lines = tracking_lines(capsys.readouterr().out)
    assert [line["task"] for line in lines] == 2 * [
        lineage.TRACK_TASK,
        lineage.CLOSE_TASK,
        lineage.LINEAGE_TASK,
        "data_quality",
        lineage.CLOSE_TASK,
    ]
    assert not any(line["recorded"] for line in lines)
    assert all("s3cret" not in line["problem"] for line in lines)  # credentials redacted
    assert "127.0.0.1" in lines[0]["problem"]
    assert lines[5]["problem"] == "could not open the pipeline run: no tracking URI"
    assert took < 60  # bounded retries: seconds per call, not MLflow's minutes


def test_an_unopened_run_records_nothing_and_says_so(
    uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lineage.record_steps(uri, "", {"evaluate.auc": 0.9}, [])
    lineage.close_run(uri, "", succeeded=True)
    assert tracking_lines(capsys.readouterr().out) == [
        {
            "task": lineage.LINEAGE_TASK,
            "recorded": False,
            "problem": "could not record the steps' outputs and datasets: tracking unavailable "
            "(no run was opened)",
        },
        {
            "task": lineage.CLOSE_TASK,
            "recorded": False,
            "problem": "could not end the run as FINISHED: tracking unavailable "
            "(no run was opened)",
        },
    ]
    assert client(uri).search_experiments(filter_string="name = 'churn-pipeline'") == []


def gate_reports(folder: Path) -> list[str]:
    paths = []
    for gate in ("data_quality", "model_quality"):
        path = folder / f"{gate}.json"
        check = CheckResult("metric", "evaluate.auc", 0.97, ">= 0.9", True)
        write_gate_report(GateReport(gate, "model", True, [check]), str(path))
        paths.append(str(path))
    return paths


def promote(uri: str, model_path: str, folder: Path, tracking: dict | None) -> str | None:
    return promotion_step(
        uri,
        MODEL,
        model_path,
        alias="challenger",
        rule_gates=["data_quality", "model_quality"],
        report_paths=gate_reports(folder),
        run_id="churn-pipeline/run-1",
        spec_name="churn-pipeline",
        spec_version="3",
        metrics={"evaluate.auc": 0.97},
        tracking=tracking,
    )


def test_the_promoted_version_points_back_to_the_run(
    uri: str, model_path: str, tmp_path: Path
) -> None:
    run_id = open_run(uri)
    by = {"by": "pipeline", "pipeline_run": "churn-pipeline/run-1"}
    version = promote(uri, model_path, tmp_path, {"uri": uri, "run": run_id, "by": by})
    assert version == "1"
    found = client(uri).get_model_version(MODEL, "1")
    assert found.run_id == run_id
    assert found.tags[lineage.VERSION_TAG_TRACKING_RUN] == run_id
    assert found.tags[lineage.VERSION_TAG_MODEL_SHA256] == sha256(Path(model_path))
    promoted_by = json.loads(found.tags[lineage.VERSION_TAG_PROMOTED_BY_PREFIX + "challenger"])
    assert promoted_by.pop("at").endswith("+00:00")
    assert promoted_by == {
        "by": "pipeline",
        "pipeline_run": "churn-pipeline/run-1",
        "actor": None,
        "rule": ["data_quality", "model_quality"],
        "rollout": None,
    }
    tags = client(uri).get_run(run_id).data.tags
    assert tags[lineage.TAG_PROMOTED_PREFIX + "challenger"] == "1"
    assert client(uri).get_registered_model(MODEL).aliases == {"challenger": 1}


def test_promotion_without_tracking_promotes_exactly_as_before(
    uri: str, model_path: str, tmp_path: Path, closed_port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tracking unavailable (no run) and a tracking server that is down: promoted all the same.
    by = {"by": "pipeline", "pipeline_run": "churn-pipeline/run-1"}
    assert promote(uri, model_path, tmp_path, {"uri": closed_port, "run": "", "by": by}) == "1"
    found = client(uri).get_model_version(MODEL, "1")
    assert found.run_id is None
    assert lineage.VERSION_TAG_TRACKING_RUN not in found.tags
    assert found.tags[lineage.VERSION_TAG_MODEL_SHA256] == sha256(Path(model_path))
    assert client(uri).get_registered_model(MODEL).aliases == {"challenger": 1}
    [line] = tracking_lines(capsys.readouterr().out)
    assert line["task"] == "promote_challenger" and line["recorded"] is False
    assert "s3cret" not in line["problem"]


def test_an_unreachable_registry_still_fails_the_promotion_closed(
    model_path: str, tmp_path: Path, closed_port: str
) -> None:
    tracking = {"uri": closed_port, "run": "abc", "by": {"by": "pipeline"}}
    with pytest.raises(RegistryError, match="could not register a version"):
        promote(closed_port, model_path, tmp_path, tracking)


def test_a_flow_cloned_from_git_gets_its_spec_hash_and_source_from_its_deployment(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled file cannot hold the commit it is cloned at: its identity leaves the spec's
    hash and git source out (backends.lineage.file_identity), the deployment's environment
    gives them (prefect.yaml job_variables.env)."""
    monkeypatch.setenv(lineage.ENV_SPEC_SHA256, IDENTITY["spec_sha256"])
    monkeypatch.setenv(lineage.ENV_GIT_SOURCE, IDENTITY["git"])
    monkeypatch.delenv("MLSPEC_GIT_COMMIT", raising=False)
    run_id = open_run(uri, identity={**IDENTITY, "spec_sha256": None, "git": None})
    tags = client(uri).get_run(run_id).data.tags
    assert tags[lineage.TAG_SPEC_SHA256] == IDENTITY["spec_sha256"]
    assert tags[lineage.TAG_CODE_GIT] == IDENTITY["git"]
    assert tags[lineage.TAG_GIT_COMMIT] == tags["mlflow.source.git.commit"] == "0123abcd"
