"""`mlspec diff` on loops: each edit a reviewer makes to a loop is one change, said in the
spec's terms (tests/support/specs/fanout.yaml, the cross-engine loop spec)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.diff import diff
from mlspec.diff.sources import Side

SPEC = Path(__file__).resolve().parents[1] / "support" / "specs" / "fanout.yaml"
PARAM_LIST = 'regions: {type: "list[str]", default: [eu, us, apac]}'

EDITS = {
    "a longer list": (
        [("for_each: [0.5, 2.0]", "for_each: [0.5, 2.0, 4.0]")],
        ("loop score", "for_each [0.5, 2.0] -> [0.5, 2.0, 4.0]"),
    ),
    "a list parameter instead of a list": (
        [
            ("for_each: [0.5, 2.0]", "for_each: params.weights"),
            (PARAM_LIST, PARAM_LIST + '\n  weights: {type: "list[float]", default: [0.5, 2.0]}'),
        ],
        ("loop score", "for_each [0.5, 2.0] -> params.weights"),
    ),
    "a list parameter's default": (
        [(PARAM_LIST, PARAM_LIST.replace("apac", "latam"))],
        ("param regions", "default [eu, us, apac] -> [eu, us, latam]"),
    ),
    "a gate that becomes per-item": (
        [("dataset: combine.table", "dataset: features.table")],
        ("gate all_rows", "judged once -> judged per item of loop make (params.regions)"),
    ),
    "a step that leaves its loop": (
        [
            ("    for_each: [0.5, 2.0]\n", ""),
            ("inputs: {weight: item, table", "inputs: {weight: {value: 0.5}, table"),
        ],
        ("loop score", "removed (for_each [0.5, 2.0]: score)"),
    ),
}


@pytest.mark.parametrize("name", EDITS)
def test_a_loop_edit_is_reported_in_the_spec_s_terms(name: str) -> None:
    edits, (subject, summary) = EDITS[name]
    text = SPEC.read_text()
    for before, after in edits:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    changes = diff(Side("old.yaml", SPEC.read_text()), Side("new.yaml", text)).changes
    said = [(c.subject, c.summary) for c in changes if c.subject != "version"]
    assert (subject, summary) in said, said
