"""Loops on the real Prefect engine (`mlspec run --target prefect`): each looped step is a mapped
task (Task.map), one task run per element named `STEP[ELEMENT]`; an iteration reads its own
iteration's outputs; a step outside the loop gets every iteration's as lists; a per-item gate
judges each element, its guarded member skipped for the element it failed only, and the fan-in
behind it blocked; the list parameter is set for the run. The steps check the calling
convention themselves and record what they were given.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.engines import mlspec_run

pytestmark = pytest.mark.slow

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: loop-demo, version: 1.0.0}
params:
  regions: {type: "list[str]", default: [eu, us]}
steps:
  make:
    for_each: params.regions
    python: loop_demo:make
    inputs: {region: item}
    outputs: {table: dataset, rows: int}
  features:
    for_each: params.regions
    python: loop_demo:features
    caching: true
    inputs: {region: item, raw: make.table, count: make.rows}
    outputs: {table: dataset, rows: int}
  combine:
    python: loop_demo:combine
    inputs: {tables: features.table, rows: features.rows}
    outputs: {summary: metrics}
gates:
  region_rows:
    dataset: make.table
    checks:
      - row_count: {min: 5}
"""

STEPS = '''\
import csv, json

SIZES = {"eu": 6, "us": 9, "tiny": 2}


def make(region, table):
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region"])
        writer.writerows([region] for _ in range(SIZES[region]))
    return {"rows": SIZES[region]}


def features(region, raw, count, table):
    """The same iteration's table and row count, or it fails."""
    with open(raw, newline="") as handle:
        found = [r["region"] for r in csv.DictReader(handle)]
    assert found == [region] * count, (region, count, found)
    with open(table, "w") as handle:
        handle.write(region)
    return {"rows": count}


def combine(tables, rows, summary):
    texts = []
    for path in tables:
        with open(path) as handle:
            texts.append(handle.read())
    with open(summary, "w") as handle:
        json.dump({"tables": texts, "rows": rows}, handle)
    return {}
'''


def _run(
    tmp_path: Path, server: str, regions: list[str], exit_code: int = 0, spec: str = SPEC
) -> tuple[dict, Path, str]:
    folder = tmp_path / "spec"
    folder.mkdir(parents=True)
    (folder / "loop.yaml").write_text(spec)
    (folder / "loop_demo.py").write_text(STEPS)
    state = tmp_path / "state"
    param = f"regions={json.dumps(regions)}"
    code, summary, output = mlspec_run(
        state, str(folder / "loop.yaml"), "--param", param, server=server
    )
    assert code == exit_code and summary is not None, output[-6000:]
    log = (Path(summary["run_folder"]) / "engine.log").read_text(encoding="utf-8")
    return summary, Path(summary["run_folder"]) / "artifacts" / "loop-demo", log


def test_mapped_iterations_read_their_own_outputs_and_a_gate_blocks_one_element(
    tmp_path: Path, prefect_api: str
) -> None:
    summary, runs, log = _run(tmp_path / "one", prefect_api, ["us", "tiny", "eu"])
    [run] = [p for p in runs.iterdir() if p.name != ".cache"]
    # The per-item gate judged each element; it failed `tiny` only.
    assert {k: v and v["passed"] for k, v in summary["gates"].items()} == {
        "region_rows.0": True,
        "region_rows.1": False,
        "region_rows.2": True,
    }
    assert summary["outcome"] == "blocked", summary
    assert summary["tasks"]["make"] == summary["tasks"]["features"] == "completed"
    assert "combine" not in summary["tasks"]  # the fan-in needs every element: blocked
    # features ran for the elements that passed, by their index, and not for `tiny`
    assert sorted(p.name for p in (run / "features").iterdir()) == ["0", "2"]
    assert (run / "features" / "2" / "table").read_text() == "eu"
    for name in ("make[us]", "make[tiny]", "features[us]", "features[eu]", "features[eu]-cached"):
        assert f"Task run '{name}'" in log
    assert "Task run 'features[tiny]'" not in log

    summary, runs, _ = _run(tmp_path / "two", prefect_api, ["us", "eu"])
    [run] = [p for p in runs.iterdir() if p.name != ".cache"]
    assert summary["outcome"] == "passed", summary
    assert summary["tasks"]["combine"] == "completed"
    # the fan-in: every iteration's output, in the order of the list set for the run
    got = json.loads((run / "combine" / "summary").read_text())
    assert got == {"tables": ["us", "eu"], "rows": [9, 6]}

    # a list longer than the runtime takes (tasks.MAX_ITEMS) fails the run before any task
    summary, runs, log = _run(tmp_path / "three", prefect_api, ["eu"] * 1001, exit_code=3)
    assert summary["outcome"] == "failed" and summary["tasks"] == {}, summary
    assert "must be a list of at most 1000 elements" in log
    assert not runs.exists()

    # on_fail: fail fails the run at the element that failed
    failing = SPEC.replace("  region_rows:\n", "  region_rows:\n    on_fail: fail\n")
    summary, _, log = _run(tmp_path / "four", prefect_api, ["us", "tiny"], 3, failing)
    assert summary["outcome"] == "failed" and summary["tasks"]["region_rows"] == "failed"
    assert "gate 'region_rows' did not pass (on_fail: fail)" in log


def test_a_promotion_behind_a_per_item_model_gate(tmp_path: Path, prefect_api: str) -> None:
    """tests/support/specs/fanout.yaml with a per-item model gate among the promotion's: judged
    per region, and the promotion tags the model with each iteration's metric."""
    source = Path(__file__).resolve().parents[1] / "support" / "specs"
    shutil.copytree(source / "fanout_demo", tmp_path / "fanout_demo")
    text = (source / "fanout.yaml").read_text()
    text = text.replace(
        "  all_rows:\n",
        "  region_ok:\n    require:\n      - {metric: make.rows, min: 5}\n  all_rows:\n",
    )
    text = text.replace("after: [region_rows,", "after: [region_ok, region_rows,")
    (tmp_path / "fanout.yaml").write_text(text)
    code, summary, output = mlspec_run(
        tmp_path / "state", str(tmp_path / "fanout.yaml"), server=prefect_api
    )
    assert code == 0 and summary is not None, output[-6000:]
    assert summary["outcome"] == "passed", output[-6000:]
    assert [summary["gates"][f"region_ok.{i}"]["passed"] for i in range(3)] == [True] * 3
    assert summary["promoted"] == {"challenger": "1"}
