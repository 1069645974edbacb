"""The monitor's job on a real SQLite MLflow registry: clean inputs raise nothing, drift and
poor quality breach, every action is recorded with its reason, rollback follows the spec's rule
and is refused when there is nothing to roll back to, and anomalies fail the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import serving

from mlspec.runtime.monitor import (
    REGISTRY_TAG_MONITOR_PREFIX,
    TRAINED_ON,
    MonitorError,
    run_monitor,
)
from mlspec.runtime.registry import (
    REGISTRY_TAG_ROLLED_BACK_PREFIX,
    promote,
    register_model_version,
)

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = "breast-cancer-classifier"


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    return tmp_path / "serving"


def champions(uri: str, model_path: str, reference: str | None, count: int) -> list[str]:
    made = []
    for i in range(count):
        version = register_model_version(
            uri,
            MODEL,
            model_path,
            run_id=f"train-{i}",
            spec_name=MODEL,
            spec_version="1.0.0",
            gate_reports=[],
            metrics={},
            reference_path=reference,
        )
        promote(uri, MODEL, version, "champion", [])
        made.append(version)
    return made


def config(served: Path, *, feedback: bool = False, rollback_on: tuple[str, ...] = ()) -> dict:
    return {
        "name": "breast-cancer-monitor",
        "pipeline": MODEL,
        "registered_model": MODEL,
        "alias": "champion",
        "inputs": {"path": str(served / "inputs"), "window_seconds": 86400},
        "checks": [
            {"kind": "row_count", "min": 50.0, "max": None},
            {"kind": "range", "column": "mean_radius", "min": 5.0, "max": 35.0},
            {
                "kind": "drift",
                "column": "mean_texture",
                "max": 0.2,
                "reference": TRAINED_ON,
                "method": "psi",
                "bins": 10,
            },
            {
                "kind": "drift",
                "column": "worst_area",
                "max": 0.15,
                "reference": TRAINED_ON,
                "method": "ks",
            },
        ],
        "feedback": {
            "path": str(served / "feedback"),
            "window_seconds": None,
            "prediction": "prediction",
            "label": "target",
            "positive": 1,
            "min_rows": 50,
            "requirements": [{"metric": "accuracy", "min": 0.9, "max": None}],
        }
        if feedback
        else None,
        "rollback_on": list(rollback_on),
    }


def run(uri: str, cfg: dict, tmp_path: Path, run_id: str = "monitor-1") -> tuple[bool, dict]:
    report = tmp_path / f"{run_id}.json"
    breached = run_monitor(cfg, run_id=run_id, tracking_uri=uri, report_path=str(report))
    return breached, json.loads(report.read_text())


def test_inputs_like_the_training_data_raise_nothing(
    uri: str, model_path: str, served: Path, tmp_path: Path
) -> None:
    (version,) = champions(uri, model_path, serving.training_data(tmp_path / "train.csv"), 1)
    serving.served_inputs(served / "inputs", drifted=False)
    breached, report = run(uri, config(served), tmp_path)
    assert not breached
    assert report["version"] == version and report["breached"] == [] and report["actions"] == []
    assert report["inputs"]["rows"] == 284 and report["inputs"]["files"] == 1
    assert all(c["passed"] for c in report["checks"]["checks"])
    tags = client(uri).get_model_version(MODEL, version).tags
    assert REGISTRY_TAG_MONITOR_PREFIX + "breast-cancer-monitor" not in tags


def test_drift_breaches_raises_the_alarm_and_tags_the_version_with_why(
    uri: str, model_path: str, served: Path, tmp_path: Path
) -> None:
    (version,) = champions(uri, model_path, serving.training_data(tmp_path / "train.csv"), 1)
    serving.served_inputs(served / "inputs", drifted=True)
    breached, report = run(uri, config(served), tmp_path)
    assert breached and report["breached"] == ["checks"]
    failed = {c["subject"] for c in report["checks"]["checks"] if not c["passed"]}
    assert failed == {"mean_texture", "worst_area"}
    assert report["actions"][0]["action"] == "alarm"
    assert "drift mean_texture" in report["actions"][0]["reason"]
    tag = (
        client(uri)
        .get_model_version(MODEL, version)
        .tags[REGISTRY_TAG_MONITOR_PREFIX + "breast-cancer-monitor"]
    )
    assert tag.startswith("breach (checks) in run monitor-1: drift mean_texture")
    assert tag.endswith("alarm raised")
    assert len(report["actions"]) == 1  # the rule rolls back on feedback only


def test_files_outside_the_window_are_not_judged(
    uri: str, model_path: str, served: Path, tmp_path: Path
) -> None:
    champions(uri, model_path, serving.training_data(tmp_path / "train.csv"), 1)
    old = serving.served_inputs(served / "inputs", drifted=True, name="old.csv")
    serving.age(old, 2 * 86400)
    serving.served_inputs(served / "inputs", drifted=False, name="new.csv")
    breached, report = run(uri, config(served), tmp_path)
    assert not breached and report["inputs"]["files"] == 1


def test_poor_quality_rolls_back_by_the_rule_once_and_refuses_a_second_rollback(
    uri: str, model_path: str, served: Path, tmp_path: Path
) -> None:
    v1, v2 = champions(uri, model_path, serving.training_data(tmp_path / "train.csv"), 2)
    serving.served_inputs(served / "inputs", drifted=False)
    serving.feedback(served / "feedback", wrong_share=0.25)
    cfg = config(served, feedback=True, rollback_on=("feedback",))
    breached, report = run(uri, cfg, tmp_path)
    assert breached and report["breached"] == ["feedback"]
    assert report["feedback"]["checks"][0]["measured"] == pytest.approx(0.75, abs=0.01)
    assert report["actions"][1] == {"action": "rollback", "from": v2, "to": v1, "moved": True}
    assert str(client(uri).get_registered_model(MODEL).aliases["champion"]) == v1
    left = client(uri).get_model_version(MODEL, v2).tags
    assert (
        "monitor breast-cancer-monitor run monitor-1: metric accuracy 0.75"
        in left[REGISTRY_TAG_ROLLED_BACK_PREFIX + "champion"]
    )
    # A retry judges the restored version on the same feedback: the alarm again, no cascade.
    breached, again = run(uri, cfg, tmp_path, run_id="monitor-1")
    assert breached and again["version"] == v1
    assert "restored by a rollback" in again["actions"][1]["refused"]
    assert str(client(uri).get_registered_model(MODEL).aliases["champion"]) == v1


def test_a_rollback_with_nothing_to_roll_back_to_is_refused_and_recorded(
    uri: str, model_path: str, served: Path, tmp_path: Path
) -> None:
    (v1,) = champions(uri, model_path, serving.training_data(tmp_path / "train.csv"), 1)
    serving.served_inputs(served / "inputs", drifted=True)
    breached, report = run(uri, config(served, rollback_on=("checks",)), tmp_path)
    assert breached and "nothing to roll back to" in report["actions"][1]["refused"]
    tag = (
        client(uri)
        .get_model_version(MODEL, v1)
        .tags[REGISTRY_TAG_MONITOR_PREFIX + "breast-cancer-monitor"]
    )
    assert "rollback refused" in tag
    assert str(client(uri).get_registered_model(MODEL).aliases["champion"]) == v1


def test_labels_not_yet_arrived_are_no_breach_and_the_report_says_so(
    uri: str, model_path: str, served: Path, tmp_path: Path
) -> None:
    champions(uri, model_path, serving.training_data(tmp_path / "train.csv"), 1)
    serving.served_inputs(served / "inputs", drifted=False)
    breached, report = run(uri, config(served, feedback=True), tmp_path)
    assert not breached and report["feedback"] is None
    assert report["feedback_note"].startswith("no labelled feedback yet")


@pytest.mark.parametrize("anomaly", ["no alias", "no training data", "no inputs"])
def test_anomalies_fail_the_run_and_act_on_nothing(
    uri: str, model_path: str, served: Path, tmp_path: Path, create_model, anomaly: str
) -> None:
    if anomaly == "no alias":
        create_model(uri, MODEL)
    else:
        reference = None if anomaly == "no training data" else str(tmp_path / "t.csv")
        if reference:
            serving.training_data(Path(reference))
        champions(uri, model_path, reference, 1)
    if anomaly != "no inputs":
        serving.served_inputs(served / "inputs", drifted=True)
    with pytest.raises(Exception) as raised:
        run(uri, config(served, rollback_on=("checks",)), tmp_path)
    assert isinstance(raised.value, MonitorError) or "no alias" in str(raised.value)
    assert not (tmp_path / "monitor-1.json").exists()
