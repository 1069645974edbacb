"""Specs and a registry for monitor tests on Airflow: a monitor of the flagship's champion, a
copy of the flagship that retrains on its alarm, and a champion that records its training data
(tests/support/serving.py writes what the server logs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mlspec.run.local_registry import start_registered_model
from mlspec.runtime.registry import promote_after_gates
from support import serving

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
MODEL = "breast-cancer-classifier"
RETRAIN = "retrain-on-drift"


def monitor_text(inputs: str, name: str = "drift-watch", extra: str = "") -> str:
    """A monitor of the flagship's champion: drift of two columns against its training data."""
    return f"""\
apiVersion: mlspec/v1
kind: Monitor
metadata: {{name: {name}, version: 1.0.0}}
{extra}monitor:
  model: {{pipeline: {MODEL}, alias: champion}}
  inputs: {{path: {json.dumps(inputs)}}}
  checks:
    - row_count: {{min: 50}}
    - drift: {{column: mean_texture, method: psi, max: 0.2}}
    - drift: {{column: worst_area, method: ks, max: 0.15}}
"""


def retrain_text(monitor: str, *, schedule: bool = False) -> str:
    """The flagship as `retrain-on-drift`, retraining on the monitor's alarm (and its cron when
    `schedule`)."""
    text = (FLAGSHIP / "pipeline.yaml").read_text()
    text = text.replace(f"name: {MODEL}", f"name: {RETRAIN}")
    cron = 'schedule: {cron: "0 3 * * 1", timezone: Europe/Berlin}\n'
    assert text.count(cron) == 1
    triggers = f"triggers:\n  - monitor: {{name: {monitor}}}\n"
    return text.replace(cron, triggers + (cron if schedule else ""))


def spec_folder(folder: Path, specs: dict[str, str]) -> Path:
    """The flagship and `specs` in one folder (the monitor and the trigger resolve against it),
    without the flagship's own monitor."""
    shutil.copytree(FLAGSHIP, folder, ignore=shutil.ignore_patterns("__pycache__", "build"))
    (folder / "monitor.yaml").unlink()
    for name, text in specs.items():
        (folder / name).write_text(text)
    return folder


def champion_trained_on(uri: str, folder: Path) -> str:
    """A new version of the flagship's model as `champion`, recording its training data (every
    even row of the data: serving.training_data) in tag mlspec.reference."""
    start_registered_model(uri, MODEL)
    model = folder / "model.pkl"
    model.write_text("a stand-in model\n")
    version = promote_after_gates(
        uri,
        MODEL,
        str(model),
        alias="champion",
        rule_gates=[],
        gate_reports=[],
        run_id=f"seed-{folder.name}",
        spec_name=MODEL,
        spec_version="1.0.0",
        metrics={"evaluate.auc": 0.5},
        reference_path=serving.training_data(folder / "train.csv"),
    )
    assert version is not None
    return version
