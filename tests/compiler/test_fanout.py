"""Loops (`for_each`) in the IR: what the lowering makes of a spec, with no engine involved.

Members of a loop are contiguous in Pipeline.steps; a member reads the element as Item(), a
member of its own loop as a plain OutputRef (the same iteration's output), and a step outside
reads it as a FanIn (every iteration's, as a list). A gate that judges a looped output is a
per-item gate: in Loop.gates, and in Step.gates of what it guards, inside or outside the loop.
Each engine's tests run these loops (tests/backends/test_fanout_engines.py); the diagnostics
of every mistake are the specs/invalid corpus (MS223, MS226-MS229, MS234, MS235).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlspec.compiler import analyze_file, analyze_text, ir

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ROOT / "specs" / "valid" / "regions.yaml"
SMALL = ROOT / "tests" / "support" / "specs" / "fanout.yaml"
TWELVE = ("eu", "uk", "us", "ca", "br", "mx", "in", "jp", "kr", "au", "za", "sg")

HEAD = "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: loops, version: 1.0.0}\n"


@pytest.fixture(scope="module")
def regions() -> ir.Pipeline:
    return analyze_file(REGIONS).pipeline


@pytest.fixture(scope="module")
def small() -> ir.Pipeline:
    return analyze_file(SMALL).pipeline


def _inputs(step: ir.Step) -> dict[str, ir.ValueSource]:
    return {i.name: i.source for i in step.inputs}


def test_forty_tasks_are_two_loops_of_a_short_spec(regions: ir.Pipeline) -> None:
    assert len(REGIONS.read_text(encoding="utf-8").splitlines()) < 80
    assert [s.name for s in regions.steps] == [
        "ingest", "clean", "features", "combine", "train", "select"
    ]  # fmt: skip
    assert [(lp.name, lp.items, lp.item_type, lp.steps, lp.gates) for lp in regions.loops] == [
        ("ingest", TWELVE, "str", ("ingest", "clean", "features"), ()),
        ("train", ("gbm", "forest", "linear"), "str", ("train",), ()),
    ]
    assert {s.name: s.loop for s in regions.steps} == {
        "ingest": "ingest", "clean": "ingest", "features": "ingest",
        "combine": None, "train": "train", "select": None,
    }  # fmt: skip
    assert regions.loops[0].span.line == 15  # the first member's for_each


def test_a_member_reads_its_element_and_its_own_iteration_and_outside_reads_a_list(
    regions: ir.Pipeline,
) -> None:
    assert _inputs(regions.step("features")) == {
        "region": ir.Item(),
        "cleaned": ir.OutputRef("clean", "table"),  # the same iteration's
    }
    assert _inputs(regions.step("combine")) == {
        "tables": ir.FanIn(ir.OutputRef("features", "table")),
        "dropped": ir.FanIn(ir.OutputRef("clean", "dropped")),
    }
    # A loop reads a step outside it as usual: every iteration the same table.
    assert _inputs(regions.step("train"))["table"] == ir.OutputRef("combine", "table")
    assert regions.step("select").upstream == ("train",)


def test_a_list_parameter_drives_a_loop_and_a_per_item_gate_guards_it(small: ir.Pipeline) -> None:
    regions = next(p for p in small.params if p.name == "regions")
    assert (regions.is_list, regions.type, regions.default) == (
        True,
        "list[str]",
        ("eu", "us", "apac"),
    )
    make, score = small.loops
    assert (make.items, make.item_type, make.steps, make.gates) == (
        ir.ParamRef("regions"),
        "str",
        ("make", "features"),
        ("region_rows",),
    )
    assert (score.items, score.item_type) == ((0.5, 2.0), "float")
    gates = {g.name: g.loop for g in small.gates}
    assert gates == {"region_rows": "make", "all_rows": None, "all_regions": None}
    # Inside the loop, features waits for its own iteration's verdict ...
    assert small.step("features").gates == ("region_rows",)
    # ... outside, combine reads features' fan-in: every iteration must have passed.
    assert small.step("combine").gates == ("region_rows",)
    assert small.step("make").gates == ()


def _lower(steps: str, params: str = "", gates: str = "") -> ir.Pipeline:
    return analyze_text(HEAD + params + "steps:\n" + steps + gates, "loops.yaml").pipeline


def test_members_are_contiguous_whatever_the_spec_order() -> None:
    pipeline = _lower(
        "  ingest: {python: m.s:ingest, for_each: [1, 2, 3], inputs: {n: item},"
        " outputs: {raw: dataset}}\n"
        "  other: {python: m.s:other, outputs: {x: int}}\n"
        "  features: {python: m.s:features, for_each: [1, 2, 3],"
        " inputs: {raw: ingest.raw, x: other.x}, outputs: {table: dataset}}\n"
    )
    names = [s.name for s in pipeline.steps]
    [loop] = pipeline.loops
    first = names.index(loop.steps[0])
    assert names[first : first + len(loop.steps)] == list(loop.steps) == ["ingest", "features"]
    assert loop.item_type == "int"


def test_same_list_steps_that_do_not_read_each_other_are_two_loops() -> None:
    pipeline = _lower(
        "  a: {python: m.s:a, for_each: [eu, us], inputs: {r: item}, outputs: {x: int}}\n"
        "  b: {python: m.s:b, for_each: [eu, us], inputs: {r: item}, outputs: {y: int}}\n"
    )
    assert [(lp.name, lp.steps) for lp in pipeline.loops] == [("a", ("a",)), ("b", ("b",))]


def test_a_float_list_keeps_its_type() -> None:
    pipeline = _lower("  a: {python: m.s:a, for_each: [1.0, 2.5], inputs: {w: item}}\n")
    [loop] = pipeline.loops
    assert (loop.items, loop.item_type) == ((1.0, 2.5), "float")
    assert all(isinstance(i, float) for i in loop.items)


def test_a_per_item_gate_further_up_the_loop_guards_the_fan_in() -> None:
    """combine reads `features`, which reads `make` behind the per-item gate: combine needs every
    iteration's verdict although it reads neither the gate's dataset nor `after` it."""
    pipeline = _lower(
        "  make: {python: m.s:make, for_each: params.r, inputs: {r: item},"
        " outputs: {t: dataset}}\n"
        "  features: {python: m.s:f, for_each: params.r, inputs: {t: make.t},"
        " outputs: {u: dataset}}\n"
        "  combine: {python: m.s:c, inputs: {us: features.u}}\n",
        params='params:\n  r: {type: "list[int]", default: [1, 2]}\n',
        gates="gates:\n  rows:\n    dataset: make.t\n    checks: [{row_count: {min: 1}}]\n",
    )
    assert pipeline.step("combine").gates == ("rows",)
    assert pipeline.loops[0].gates == ("rows",)
    assert pipeline.loops[0].item_type == "int"


def test_the_ir_is_deterministic(small: ir.Pipeline) -> None:
    again = analyze_text(SMALL.read_text(encoding="utf-8"), str(SMALL)).pipeline
    assert json.dumps(ir.to_data(again)) == json.dumps(ir.to_data(small))
