"""When a comparison with a registry alias counts as a first run, through the gate step.

A real SQLite MLflow registry, filled by the runtime's own promotion step; a tiny HTTP server
on 127.0.0.1 for a "tracking server" that answers `{}` to everything. Each anomaly used to pass
as "no champion yet; first_run: pass"; now only an empty registered model is a first run.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlspec.runtime.registry import promote_after_gates
from mlspec.runtime.report import CheckResult, GateReport
from mlspec.runtime.steps import model_gate_step

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = "churn"
PASSED = [
    GateReport(
        "model_quality",
        "model",
        True,
        [CheckResult("metric", "evaluate.accuracy", 0.9, ">= 0.5", True)],
    )
]


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def promoted(uri: str, model_path: str, alias: str, accuracy: float, run_id: str) -> str | None:
    """What the pipeline's promotion step does after its gates passed."""
    return promote_after_gates(
        uri,
        MODEL,
        model_path,
        alias=alias,
        rule_gates=["model_quality"],
        gate_reports=PASSED,
        run_id=run_id,
        spec_name="churn-pipeline",
        spec_version="1",
        metrics={"evaluate.accuracy": accuracy},
    )


def gate(
    tmp_path: Path, uri: str, accuracy: float, *, vs: str = "champion", model: str = MODEL
) -> dict:
    """The model gate `accuracy vs <alias>` under first_run: pass; its report."""
    report = tmp_path / "report.json"
    requirement = {"metric": "evaluate.accuracy", "vs": vs, "better": "higher", "tolerance": 0.0}
    passed = model_gate_step(
        "model_quality",
        {"evaluate.accuracy": accuracy},
        [requirement],
        str(report),
        first_run="pass",
        tracking_uri=uri,
        model_name=model,
    )
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["passed"] is passed
    return data


def test_an_empty_registered_model_is_a_first_run(uri: str, tmp_path: Path) -> None:
    client(uri).create_registered_model(MODEL)
    report = gate(tmp_path, uri, 0.7)
    assert report["passed"] is True
    assert report["checks"][0]["detail"] == (
        "first run: registered model 'churn' has no versions yet; first_run: pass"
    )


def test_an_alias_other_than_champion_is_compared(
    uri: str, model_path: str, tmp_path: Path
) -> None:
    # A TFX-style spec promotes to `production`: `vs: champion` always saw a first run, so 0.7
    # replaced 0.9. Comparing with the alias the spec promotes blocks it.
    assert promoted(uri, model_path, "production", 0.9, "run-1") == "1"
    report = gate(tmp_path, uri, 0.7, vs="production")
    assert report["passed"] is False
    check = report["checks"][0]
    assert (check["check"], check["threshold"]) == ("production", ">= 0.9 (production 0.9 - 0)")
    assert gate(tmp_path, uri, 0.91, vs="production")["passed"] is True


def test_versions_without_the_alias_block(uri: str, model_path: str, tmp_path: Path) -> None:
    assert promoted(uri, model_path, "production", 0.9, "run-1") == "1"
    report = gate(tmp_path, uri, 0.7)  # compares with champion, which nothing set
    assert report["passed"] is False
    assert report["reason"] == (
        "registered model 'churn' has versions, but none holds alias 'champion': "
        "it was never set, or its version was deleted"
    )


def test_a_deleted_champion_version_blocks(uri: str, model_path: str, tmp_path: Path) -> None:
    assert promoted(uri, model_path, "champion", 0.9, "run-1") == "1"
    assert promoted(uri, model_path, "challenger", 0.8, "run-2") == "2"
    client(uri).delete_model_version(MODEL, "1")  # MLflow drops the alias with it
    assert "none holds alias 'champion'" in gate(tmp_path, uri, 0.7)["reason"]


def test_a_model_whose_versions_were_all_deleted_blocks(
    uri: str, model_path: str, tmp_path: Path
) -> None:
    assert promoted(uri, model_path, "champion", 0.9, "run-1") == "1"
    client(uri).delete_model_version(MODEL, "1")
    report = gate(tmp_path, uri, 0.7)
    assert report["passed"] is False
    assert report["reason"] == (
        "registered model 'churn' has no versions, but mlspec registered versions of spec "
        "'churn-pipeline' into it before: they were deleted"
    )


@pytest.mark.parametrize("deleted", [False, True], ids=["wrong-name", "deleted-model"])
def test_a_registered_model_that_does_not_exist_blocks(
    uri: str, model_path: str, tmp_path: Path, deleted: bool
) -> None:
    assert promoted(uri, model_path, "champion", 0.9, "run-1") == "1"
    if deleted:
        client(uri).delete_registered_model(MODEL)
    report = gate(tmp_path, uri, 0.7, model=MODEL if deleted else "churm")
    assert report["passed"] is False
    assert "does not exist in registry sqlite:///" in report["reason"]
    assert report["reason"].endswith(
        "a wrong name or tracking URI, or a deleted model; for a first run, create it (empty) first"
    )


def test_a_mistyped_sqlite_path_is_unreachable_and_not_created(uri: str, tmp_path: Path) -> None:
    typo = uri.replace("registry.db", "registyr.db")
    report = gate(tmp_path, typo, 0.7)
    assert report["passed"] is False
    assert report["reason"].endswith("registyr.db does not exist")
    assert not (tmp_path / "registyr.db").exists()  # MLflow would have made a new registry


def test_a_sqlite_file_without_a_registry_is_refused_untouched(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    report = gate(tmp_path, f"sqlite:///{empty}", 0.7)
    assert report["passed"] is False
    assert report["reason"].endswith("holds no MLflow model registry (no registered_models table)")
    assert empty.stat().st_size == 0  # MLflow would have created its tables in it


class _EmptyAnswers(http.server.BaseHTTPRequestHandler):
    """A "tracking server" that answers 200 `{}` to every request."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_server(mlflow_env: None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EmptyAnswers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_server_that_answers_empty_objects_blocks(empty_server: str, tmp_path: Path) -> None:
    report = gate(tmp_path, empty_server, 0.7)
    assert report["passed"] is False
    assert report["reason"] == (
        f"registry {empty_server}: asked for 'churn', the answer is about '': "
        "this does not answer like an MLflow model registry"
    )
