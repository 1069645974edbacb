"""The registry runtime against a real MLflow model registry on SQLite (no server, no network)."""

from __future__ import annotations

import ast
import os
import socket
import sys
import time
import traceback
from pathlib import Path

import pytest
from shipped import load

from mlspec.runtime import embed, registry
from mlspec.runtime.registry import (
    NoBaseline,
    PromotionRefused,
    RegistryError,
    alias_metrics,
    find_version_by_run,
    promote,
    promote_after_gates,
    register_model_version,
)
from mlspec.runtime.report import CheckResult, GateReport

# SQLAlchemy deprecation inside MLflow's own store, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = "churn"
REGISTRY_SOURCE = Path(registry.__file__)


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def version_count(uri: str) -> int:
    return len(client(uri).search_model_versions(f"name = '{MODEL}'"))


def aliases(uri: str) -> dict[str, str]:
    return {a: str(v) for a, v in client(uri).get_registered_model(MODEL).aliases.items()}


def report(gate: str, passed: bool) -> GateReport:
    check = CheckResult("metric", "evaluate.auc", 0.97 if passed else 0.61, ">= 0.9", passed)
    return GateReport(gate=gate, kind="model", passed=passed, checks=[check])


PASSING = [report("data_quality", True), report("model_quality", True)]


def register(uri: str, model_path: str, run_id: str = "run-1", **overrides) -> str:
    arguments = {
        "run_id": run_id,
        "spec_name": "churn-pipeline",
        "spec_version": "3",
        "gate_reports": PASSING,
        "metrics": {"evaluate.auc": 0.9731},
    }
    return register_model_version(uri, MODEL, model_path, **(arguments | overrides))


def promote_gated(uri: str, model_path: str, reports: list[GateReport], **overrides) -> str | None:
    arguments = {
        "alias": "champion",
        "rule_gates": ["data_quality", "model_quality"],
        "gate_reports": reports,
        "run_id": "run-9",
        "spec_name": "churn-pipeline",
        "spec_version": "3",
        "metrics": {"evaluate.auc": 0.99},
    }
    return promote_after_gates(uri, MODEL, model_path, **(arguments | overrides))


def test_only_an_empty_registered_model_is_a_first_run(uri: str, model_path: str) -> None:
    with pytest.raises(NoBaseline, match="'churn' does not exist in registry sqlite:///"):
        alias_metrics(uri, MODEL, "champion")  # a wrong name, or a deleted model, looks so
    client(uri).create_registered_model(MODEL)
    assert alias_metrics(uri, MODEL, "champion") is None
    register(uri, model_path)
    with pytest.raises(NoBaseline, match="has versions, but none holds alias 'champion'"):
        alias_metrics(uri, MODEL, "champion")


def test_register_and_promote_challenger_records_every_tag(uri: str, model_path: str) -> None:
    version = register(
        uri,
        model_path,
        metrics={"evaluate.auc": 0.9731, "evaluate.loss": 1e-05},
        gate_reports=[report("data_quality", True), report("fairness", False)],
        tags={"team": "growth"},
        git_commit="0123abc",
    )
    assert version == "1"
    promote(uri, MODEL, version, "challenger", ["data_quality"])

    stored = client(uri).get_model_version(MODEL, version)
    assert stored.tags == {
        "mlspec.spec": "churn-pipeline",
        "mlspec.spec_version": "3",
        "mlspec.run_id": "run-1",
        "mlspec.git_commit": "0123abc",
        "mlspec.gate.data_quality": "passed",
        "mlspec.gate.fairness": "blocked",
        "mlspec.metric.evaluate.auc": "0.9731",
        "mlspec.metric.evaluate.loss": "0.00001",
        "team": "growth",
    }
    assert stored.source == Path(model_path).resolve().as_uri()
    assert stored.source.startswith("file:///")
    assert aliases(uri) == {"challenger": "1"}
    # The mark that the model had versions: once all are deleted, it is no first run again.
    assert client(uri).get_registered_model(MODEL).tags == {"mlspec.spec": "churn-pipeline"}
    promote(uri, MODEL, version, "challenger", ["data_quality"])  # idempotent
    assert aliases(uri) == {"challenger": "1"}


def test_retried_registration_creates_no_second_version(uri: str, model_path: str) -> None:
    first = register(uri, model_path, run_id="run-1")
    again = register(uri, model_path, run_id="run-1", metrics={"evaluate.auc": 0.5})
    assert first == again == "1"
    assert version_count(uri) == 1
    assert find_version_by_run(uri, MODEL, "run-1") == "1"
    assert find_version_by_run(uri, MODEL, "run-2") is None
    assert find_version_by_run(uri, "no-such-model", "run-1") is None


def test_run_ids_with_quotes_are_found(uri: str, model_path: str) -> None:
    # MLflow's filter language has no escapes; a doubled quote silently matches nothing.
    assert register(uri, model_path, run_id="it's") == "1"
    assert register(uri, model_path, run_id="it's") == "1"
    assert find_version_by_run(uri, MODEL, "it's") == "1"
    with pytest.raises(ValueError, match="both quote"):
        find_version_by_run(uri, MODEL, 'it\'s "odd"')


def test_promote_refuses_a_blocked_or_missing_gate_naming_it(uri: str, model_path: str) -> None:
    reports = [report("data_quality", True), report("model_quality", False)]
    version = register(uri, model_path, gate_reports=reports)
    required = ["data_quality", "model_quality", "fairness"]
    with pytest.raises(PromotionRefused) as refused:
        promote(uri, MODEL, version, "champion", required)
    message = str(refused.value)
    assert "'model_quality' is 'blocked'" in message
    assert "'fairness' is missing" in message
    assert "data_quality" not in message
    assert aliases(uri) == {}
    with pytest.raises(PromotionRefused, match="no version 7"):
        promote(uri, MODEL, "7", "champion", [])


def test_champion_metrics_are_the_promoted_versions_metric_tags(uri: str, model_path: str) -> None:
    metrics = {"evaluate.auc": 0.9731, "evaluate.loss": 1e-05, "train.rows": 300}
    version = register(uri, model_path, metrics=metrics)
    promote(uri, MODEL, version, "champion", ["data_quality", "model_quality"])
    found = alias_metrics(uri, MODEL, "champion")
    assert found == {"evaluate.auc": 0.9731, "evaluate.loss": 1e-05, "train.rows": 300.0}
    assert all(type(value) is float for value in found.values())
    with pytest.raises(NoBaseline, match="none holds alias 'challenger'"):
        alias_metrics(uri, MODEL, "challenger")


def test_a_better_second_model_becomes_version_2_and_champion(uri: str, model_path: str) -> None:
    assert promote_gated(uri, model_path, PASSING, run_id="run-1") == "1"
    second = promote_gated(uri, model_path, PASSING, run_id="run-2", metrics={"evaluate.auc": 0.99})
    assert second == "2"
    assert version_count(uri) == 2
    assert aliases(uri) == {"champion": "2"}
    assert alias_metrics(uri, MODEL, "champion") == {"evaluate.auc": 0.99}
    # The pipeline step retried after success: same version, still two versions.
    assert promote_gated(uri, model_path, PASSING, run_id="run-2") == "2"
    assert version_count(uri) == 2


def test_promote_after_gates_with_a_blocked_gate_registers_nothing(
    uri: str, model_path: str
) -> None:
    blocked = [report("data_quality", True), report("model_quality", False)]
    assert promote_gated(uri, model_path, blocked) is None
    assert client(uri).search_registered_models() == []  # not even the registered model

    assert promote_gated(uri, model_path, PASSING, run_id="run-1") == "1"
    assert promote_gated(uri, model_path, blocked, run_id="run-2") is None
    missing = [report("data_quality", True)]  # model_quality never reported
    assert promote_gated(uri, model_path, missing, run_id="run-3") is None
    assert version_count(uri) == 1
    assert aliases(uri) == {"champion": "1"}


def test_gates_outside_the_rule_do_not_block_promotion(uri: str, model_path: str) -> None:
    reports = [*PASSING, report("fairness", False)]
    version = promote_gated(uri, model_path, reports)
    assert version == "1"
    assert client(uri).get_model_version(MODEL, "1").tags["mlspec.gate.fairness"] == "blocked"


def test_reserved_aliases_are_refused_before_registering(uri: str, model_path: str) -> None:
    for alias in ("latest", "Latest", "v2", "has space"):
        with pytest.raises(ValueError, match="invalid alias"):
            promote_gated(uri, model_path, PASSING, alias=alias)
        with pytest.raises(ValueError, match="invalid alias"):
            alias_metrics(uri, MODEL, alias)
    assert client(uri).search_registered_models() == []


def test_user_tags_cannot_claim_a_gate_verdict(uri: str, model_path: str) -> None:
    with pytest.raises(ValueError, match="reserved prefix"):
        register(uri, model_path, tags={"mlspec.gate.fairness": "passed"})


def test_a_missing_model_artifact_is_not_registered(uri: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        register(uri, str(tmp_path / "absent.pkl"))
    assert client(uri).search_registered_models() == []


def test_a_non_numeric_champion_metric_fails_closed(uri: str, model_path: str) -> None:
    version = register(uri, model_path)
    promote(uri, MODEL, version, "champion", [])
    client(uri).set_model_version_tag(MODEL, version, "mlspec.metric.evaluate.auc", "high")
    with pytest.raises(RegistryError, match="non-numeric metric tag"):
        alias_metrics(uri, MODEL, "champion")


def test_an_unreachable_server_fails_fast_without_credentials(mlflow_env: None) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret_uri = f"http://alice:s3cret@127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(RegistryError) as failed:
        alias_metrics(secret_uri, MODEL, "champion")
    assert time.monotonic() - start < 15
    assert f"registry http://127.0.0.1:{port}: could not read" in str(failed.value)
    printed = "".join(traceback.format_exception(failed.value))  # chained errors included
    assert "s3cret" not in printed and "alice" not in printed
    assert not set(registry._HTTP_LIMITS) & set(os.environ)  # restored


def test_a_sqlite_registry_in_a_missing_folder_is_unreachable(tmp_path: Path) -> None:
    # MLflow would create the folder and an empty registry: every run would look like the first.
    folder = tmp_path / "typo"
    with pytest.raises(RegistryError, match=r"the SQLite database file .* does not exist"):
        alias_metrics(f"sqlite:///{folder}/registry.db", MODEL, "champion")
    assert not folder.exists()


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.9731, "0.9731"), (1e-05, "0.00001"), (3, "3.0"), (1e20, "100000000000000000000")],
)
def test_metric_tags_are_plain_decimals(value: float, text: str) -> None:
    import numpy

    assert registry._format_metric(value) == text
    assert registry._format_metric(numpy.float64(value)) == text
    assert float(text) == value


def test_imports_only_the_standard_library_mlflow_report_and_lineage() -> None:
    tree = ast.parse(REGISTRY_SOURCE.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 1:  # the runtime package's
            # lineage (which imports this module) only inside functions: tracked promotions
            assert node.module in ("report", "lineage")
            if node.module == "report":
                assert [a.name for a in node.names] == ["CheckResult", "GateReport"]
                assert node in tree.body
            else:
                assert node not in tree.body
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imported.add(node.module or "")
    for name in imported:
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top == "mlflow"
    top_level = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in tree.body if isinstance(n, ast.ImportFrom)
    }
    assert not any(name.startswith("mlflow") for name in top_level)  # lazily, inside functions


def test_the_module_loads_where_mlflow_is_not_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` fail
    module = load(embed.package(("report", "registry")), tmp_path, "registry")
    with pytest.raises(ImportError):
        module.find_version_by_run("sqlite:///unused.db", MODEL, "run-1")
