"""The flagship, end to end under kfp's local runner: real steps, real gates, a real registry.

Runs through `mlspec run --target kubeflow` (src/mlspec/run/kubeflow_driver.py): a scratch
virtualenv with pip in the run's state folder (kfp.local runs each task with the driver's own
interpreter and first runs `python3 -m pip install ...` from the component; the dev
environment's packages are visible through a .pth file, nothing is downloaded), then one
`SubprocessRunner(use_venv=False)` pipeline run against the state folder's SQLite MLflow
registry. The passing run is made once per test run (tests/support/engines.py).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from support.engines import FLAGSHIP, MODEL, Run, mlspec_run, registry

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]


def test_flagship_passes_its_gates_and_promotes_a_challenger(
    flagship_run: Callable[[str], Run],
) -> None:
    run = flagship_run("kubeflow")
    log = run.log
    assert "gate data_quality: passed" in log
    assert "gate model_quality: passed" in log
    assert f"promotion to 'challenger': {MODEL} version 1" in log
    assert registry(run.state) == (["1"], {"challenger": "1"})


def test_the_promoted_version_records_its_training_data(
    flagship_run: Callable[[str], Run],
) -> None:
    """registry.reference: ingest.train reaches the promotion as an input artifact; the version
    it registers names that file (tag mlspec.reference), which a monitor's drift compares with."""
    from mlflow import MlflowClient

    run = flagship_run("kubeflow")
    uri = f"sqlite:///{run.state / 'registry.db'}"
    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(MODEL, "1").tags
    reference = Path(urllib.parse.unquote(urllib.parse.urlsplit(tags["mlspec.reference"]).path))
    assert reference.name == "train" and reference.parent.name == "ingest"
    assert reference.is_relative_to(Path(run.summary["run_folder"]))
    assert reference.read_bytes().startswith(b"mean_radius,")


def test_flagship_promotes_nothing_when_the_model_gate_blocks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, summary, output = mlspec_run(
        state, str(FLAGSHIP), "--target", "kubeflow", "--param", "min_auc=0.999"
    )
    assert code == 0 and summary is not None, output[-6000:]
    assert summary["outcome"] == "blocked"
    log = (Path(summary["run_folder"]) / "engine.log").read_text(encoding="utf-8")
    assert "gate data_quality: passed" in log
    assert "gate model_quality: blocked" in log
    assert "promote-challenger" not in log
    assert registry(state) == ([], {})
