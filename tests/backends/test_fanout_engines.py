"""Fan-out on every engine: tests/support/specs/fanout.yaml (`make` and `features` once per
region, `combine` collecting both) runs with `mlspec run` on Prefect, Kubeflow (kfp's local
runner) and Airflow (dag.test()), each run reaching the same verdicts, metrics and promotion;
and specs/valid/regions.yaml (two loops) loads in Airflow's own DagBag. One run per engine.

The steps check the calling convention themselves: `features` refuses another region's table,
`combine` refuses anything but lists; the gates then pass only on all 40 rows of 3 regions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import airflow_env
from support.engines import mlspec_run

from mlspec.backends.airflow import AirflowBackend
from mlspec.compiler import analyze_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "support" / "specs" / "fanout.yaml"
REGIONS = ROOT / "specs" / "valid" / "regions.yaml"
# The looped steps: each engine reports one state per step, every iteration's state combined.
LOOPED = ["make", "features", "score"]
# What every engine must decide: the same on each.
PASSED = {"passed": True, "failed": []}
GATES = {
    **{f"region_rows.{i}": PASSED for i in range(3)},
    "all_rows": PASSED,
    "all_regions": PASSED,
}
METRICS = {"combine.regions": 3.0, "combine.total": 40.0, "pick.best": 3408.0}


@pytest.mark.parametrize("engine", ["prefect", "kubeflow", "airflow"])
def test_a_fan_out_runs_with_the_same_verdicts_on_every_engine(engine: str, tmp_path: Path) -> None:
    target: tuple[str, ...] = ("--target", engine)
    if engine == "airflow":
        target += ("--airflow-python", str(airflow_env.environment()))
    code, summary, output = mlspec_run(tmp_path / "state", str(SPEC), *target)
    assert code == 0 and summary is not None, output[-6000:]
    assert summary["outcome"] == "passed", output[-6000:]
    tasks = summary["tasks"]  # each engine's word for done: completed, success
    assert tasks["combine"] in ("completed", "success")
    assert {t: tasks.get(t) for t in LOOPED} == dict.fromkeys(LOOPED, tasks["combine"])
    assert summary["gates"] == GATES
    assert summary["metrics"] == METRICS
    assert summary["promoted"] == {"challenger": "1"}
    assert summary["tracking_incomplete"] == []


def test_airflow_dagbag_loads_the_forty_step_pipeline(tmp_path: Path) -> None:
    pipeline = analyze_file(REGIONS).pipeline
    for artifact in AirflowBackend().emit(pipeline):  # the DAG and the runtime package beside
        (tmp_path / artifact.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / artifact.path).write_text(artifact.text, encoding="utf-8")
    env = airflow_env.base_env(tmp_path / "home")
    bag = airflow_env.drive(airflow_env.environment(), env, "dagbag", str(tmp_path))
    assert bag["import_errors"] == {} and bag["captured_warnings"] == {}, bag["log"][-6000:]
    assert list(bag["dags"]) == ["regional-demand"]
    tasks = bag["dags"]["regional-demand"]["tasks"]
    # One task per step, mapped over its loop's elements; the fan-ins wait for every one.
    assert {"ingest", "clean", "features", "train"} <= set(tasks)
    assert tasks["features"]["upstream"] == ["clean"]
    assert tasks["combine"]["upstream"] == ["clean", "features"]
    assert tasks["select"]["upstream"] == ["train"]
