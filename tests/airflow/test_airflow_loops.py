"""Loops on Airflow 3.3.2 (issue #23 item 1): a loop is a mapped task group, its members keep
their step names, a list parameter is an array Param; a per-item gate that blocks skips its own
map index of what it guards and everything outside the loop that waits for it.

Starts: the separate Airflow environment (tests/support/airflow_env.py, built once per machine),
Airflow's DagBag in a subprocess, and `mlspec run --target airflow` (dag.test(), ~60 s each,
its own migrated database) on a small loop spec written here with its steps module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support import airflow_env
from support.engines import mlspec_run

from mlspec.backends.airflow import AirflowBackend
from mlspec.compiler import analyze_file, analyze_text

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
LOOPED_SPECS = [ROOT / "specs" / "valid" / "regions.yaml", ROOT / "tests/support/specs/fanout.yaml"]

# `make` and `tag` once per size of a list parameter; `rows_ok` judges each size's table
# (size 2 has too few rows) before its `tag` runs; `count` collects make's row counts and notes
# (no gate judges them), `collect` tag's labels (behind every iteration of rows_ok).
SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: loopdemo, version: 1.0.0}
params:
  sizes: {type: "list[int]", default: [6, 2, 9]}
steps:
  make:
    for_each: params.sizes
    python: loopdemo:make
    inputs: {size: item}
    outputs: {table: dataset, notes: artifact, rows: int}
  tag:
    for_each: params.sizes
    python: loopdemo:tag
    inputs: {size: item, raw: make.table, rows: make.rows}
    outputs: {label: str}
  count:
    python: loopdemo:count
    inputs: {rows: make.rows, notes: make.notes}
    outputs: {total: int}
  collect:
    python: loopdemo:collect
    inputs: {labels: tag.label}
    outputs: {joined: str}
gates:
  rows_ok:
    dataset: make.table
    on_fail: block
    checks:
      - row_count: {min: 5}
  counted:
    require:
      - {metric: count.total, min: 17, max: 17}
"""

STEPS = '''\
"""Steps of the loop test: each checks what it was handed (SIZES: the run's list)."""

import csv
from pathlib import Path

SIZES = {sizes}


def make(size: int, table: str, notes: str) -> dict:
    assert isinstance(size, int), size
    Path(notes).write_text(str(size), encoding="utf-8")
    with Path(table).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["n"])
        writer.writerows([i] for i in range(size))
    return {{"rows": size}}


def tag(size: int, raw: str, rows: int) -> dict:
    """Its own iteration's table and row count, never another's."""
    with Path(raw).open(newline="") as handle:
        found = len(list(csv.DictReader(handle)))
    assert found == rows == size, (size, found, rows)
    assert raw.endswith(f"/make/{{SIZES.index(size)}}/table"), raw
    return {{"label": f"size-{{size}}"}}


def count(rows: list, notes: list) -> dict:
    """The fan-in: every iteration's value and path, in element order."""
    assert rows == SIZES, rows
    assert [int(Path(n).read_text(encoding="utf-8")) for n in notes] == SIZES, notes
    return {{"total": sum(rows)}}


def collect(labels: list) -> dict:
    assert labels == [f"size-{{s}}" for s in SIZES] and min(SIZES) >= 5, labels
    return {{"joined": ",".join(labels)}}
'''


def _run(tmp_path: Path, spec: str = SPEC, sizes: list[int] | None = None) -> tuple[dict, str]:
    """`mlspec run --target airflow` of `spec`; `sizes` set for the run (`--param`)."""
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(spec, encoding="utf-8")
    steps = STEPS.format(sizes=sizes or [6, 2, 9])
    (folder / "loopdemo.py").write_text(steps, encoding="utf-8")
    python = str(airflow_env.environment())
    args = ("--target", "airflow", "--airflow-python", python)
    if sizes is not None:
        args += ("--param", f"sizes={sizes}")
    _, summary, output = mlspec_run(tmp_path / "state", str(folder / "pipeline.yaml"), *args)
    assert summary is not None, output[-6000:]
    return summary, output


def test_the_dagbag_loads_looped_pipelines_as_mapped_task_groups(tmp_path: Path) -> None:
    for spec in LOOPED_SPECS:
        for artifact in AirflowBackend().emit(analyze_file(spec).pipeline):
            path = tmp_path / "dags" / artifact.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(artifact.text, encoding="utf-8")
    env = airflow_env.base_env(tmp_path / "home")
    bag = airflow_env.drive(airflow_env.environment(), env, "dagbag", str(tmp_path / "dags"))
    assert bag["import_errors"] == {}, bag["log"][-6000:]
    assert bag["captured_warnings"] == {} and bag["dag_warnings"] == [], bag["log"][-6000:]
    assert sorted(bag["dags"]) == ["fanout", "regional-demand"]

    regions = bag["dags"]["regional-demand"]["tasks"]
    loops = {name: task["loop"] for name, task in regions.items() if task["loop"]}
    assert loops == {
        **dict.fromkeys(["ingest", "clean", "features"], "mlspec_loop_ingest"),
        "train": "mlspec_loop_train",
    }
    assert regions["combine"]["upstream"] == ["clean", "features"]

    fanout = bag["dags"]["fanout"]
    assert fanout["params"]["regions"] == ["eu", "us", "apac"]  # an array Param
    tasks = fanout["tasks"]
    assert {n for n, t in tasks.items() if t["loop"] == "mlspec_loop_make"} == {
        "make",
        "region_rows",
        "features",
    }
    assert tasks["make"]["upstream"] == ["mlspec_items_regions", "mlspec_track"]
    # The per-item gate is a plain task that skips itself: a mapped ShortCircuitOperator in a
    # mapped task group skips nothing (NotPreviouslySkippedDep looks at map index -1).
    assert tasks["region_rows"]["operator"] == "PythonOperator"
    assert tasks["all_rows"]["operator"] == "ShortCircuitOperator"
    assert sorted(tasks["combine"]["upstream"]) == ["features", "make", "region_rows"]


def test_a_per_item_gate_blocks_its_element_and_what_waits_outside(tmp_path: Path) -> None:
    summary, output = _run(tmp_path)
    assert summary["outcome"] == "blocked", output[-6000:]
    tasks = summary["tasks"]
    # make ran for every size; the blocked size's tag is skipped, the others ran.
    assert [tasks[f"make.{i}"] for i in range(3)] == ["success"] * 3
    assert [tasks[f"rows_ok.{i}"] for i in range(3)] == ["success", "skipped", "success"]
    assert [tasks[f"tag.{i}"] for i in range(3)] == ["success", "skipped", "success"]
    assert tasks["make"] == "success" and tasks["tag"] == "skipped 1, success 2"
    # Outside: what collects behind the gate waits for every iteration; what is not, runs.
    assert tasks["collect"] == "skipped"
    assert tasks["count"] == "success" and tasks["counted"] == "success"
    assert summary["metrics"] == {"count.total": 17.0}
    gates = summary["gates"]
    assert [gates[f"rows_ok.{i}"]["passed"] for i in range(3)] == [True, False, True]
    assert gates["counted"]["passed"] is True


def test_a_per_item_gate_that_fails_fails_the_run(tmp_path: Path) -> None:
    summary, output = _run(tmp_path, SPEC.replace("on_fail: block", "on_fail: fail"))
    assert summary["outcome"] == "failed", output[-6000:]
    tasks = summary["tasks"]
    assert [tasks[f"rows_ok.{i}"] for i in range(3)] == ["success", "failed", "success"]
    assert [tasks[f"tag.{i}"] for i in range(3)] == ["success", "upstream_failed", "success"]
    assert tasks["collect"] == "upstream_failed"


def test_a_list_parameter_set_for_the_run(tmp_path: Path) -> None:
    """`--param sizes=[9, 6]` (JSON text) reaches the array Param: two iterations, all pass."""
    summary, output = _run(tmp_path, sizes=[9, 6])
    tasks = summary["tasks"]
    assert {t for t in tasks if t.startswith("make.")} == {"make.0", "make.1"}, output[-6000:]
    assert tasks["collect"] == "success"
    assert summary["metrics"] == {"count.total": 15.0}  # outside `counted`'s bounds: blocked
    assert [summary["gates"][f"rows_ok.{i}"]["passed"] for i in range(2)] == [True, True]


# A container step in a loop, and one outside reading a scalar fan-in.
CONTAINERS = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: podloop, version: 1.0.0}
params:
  sizes: {type: "list[int]", default: [3, 4]}
steps:
  make:
    for_each: params.sizes
    python: podloop:make
    inputs: {size: item}
    outputs: {rows: int, table: dataset}
  show:
    for_each: params.sizes
    image: busybox:1.36
    container:
      command: [echo]
      args: ["${inputs.size}", "${inputs.rows}", "${inputs.table}", "${outputs.out}"]
    inputs: {size: item, rows: make.rows, table: make.table}
    outputs: {out: artifact}
  total:
    image: busybox:1.36
    container: {command: [echo], args: ["${inputs.rows}"]}
    inputs: {rows: make.rows}
"""


def test_a_looped_container_step_renders_its_own_iteration(
    tmp_path: Path, migrated_airflow_db: Path
) -> None:
    """Airflow renders each map index's pod arguments when the task runs (then the pod cannot
    start: no cluster): its element, its iteration's outputs, its own output folder."""
    dags = tmp_path / "dags"
    for artifact in AirflowBackend().emit(analyze_text(CONTAINERS, "podloop.yaml").pipeline):
        (dags / artifact.path).parent.mkdir(parents=True, exist_ok=True)
        (dags / artifact.path).write_text(artifact.text, encoding="utf-8")
    (tmp_path / "podloop.py").write_text(
        "def make(size, table):\n    open(table, 'w').close()\n    return {'rows': size * 10}\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(migrated_airflow_db, home / "airflow.db")
    env = airflow_env.base_env(home) | {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "MLSPEC_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "PYTHONPATH": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "no-cluster"),
    }
    script = Path(__file__).with_name("rendered.py")
    done = subprocess.run(
        [str(airflow_env.environment()), str(script), str(dags / "podloop.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    [line] = [x for x in done.stdout.splitlines() if x.startswith("RENDERED ")]
    found = json.loads(line.removeprefix("RENDERED "))
    assert [found[f"make.{i}"]["state"] for i in range(2)] == ["success"] * 2, done.stderr
    run = next(tmp_path.glob("artifacts/podloop/*"))
    for index, size in enumerate([3, 4]):
        assert found[f"show.{index}"]["fields"]["arguments"] == [
            str(size),
            str(size * 10),
            str(run / "make" / str(index) / "table"),
            str(run / "show" / str(index) / "out"),
        ]
    assert found["total.-1"]["fields"]["arguments"] == ["[30, 40]"]
