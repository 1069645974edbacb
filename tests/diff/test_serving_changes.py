"""`mlspec diff` on a serving gate: a loosened bound or a removed check is risky, a tightened
one or another runtime, environment or request set is for review."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.compiler import analyze_text
from mlspec.diff.changes import compare

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "valid" / "serving-gates.yaml"
TEXT = SPEC.read_text(encoding="utf-8")

CASES = {
    "latency raised": (
        "max_p95_latency_ms: 250",
        "max_p95_latency_ms: 400",
        ("risky", "max_p95_latency_ms 250 ms -> 400 ms"),
    ),
    "latency removed": (
        "      max_p95_latency_ms: 250\n",
        "",
        ("risky", "max_p95_latency_ms 250 ms -> none"),
    ),
    "latency lowered": (
        "max_p95_latency_ms: 250",
        "max_p95_latency_ms: 100",
        ("review", "max_p95_latency_ms 250 ms -> 100 ms"),
    ),
    "memory raised": (
        "max_memory: 1Gi",
        "max_memory: 2Gi",
        ("risky", "max_memory 1073741824 bytes -> 2147483648 bytes"),
    ),
    "memory lowered": (
        "max_memory: 1Gi",
        "max_memory: 512Mi",
        ("review", "max_memory 1073741824 bytes -> 536870912 bytes"),
    ),
    "ready later": ("ready_within: 3m", "ready_within: 10m", ("risky", "ready_within 3m -> 10m")),
    "ready sooner": ("ready_within: 3m", "ready_within: 1m", ("review", "ready_within 3m -> 1m")),
    "fewer rows": ("rows: 20", "rows: 5", ("risky", "rows 20 -> 5")),
    "more rows": ("rows: 20", "rows: 50", ("review", "rows 20 -> 50")),
    "shape unchecked": (
        "expect: {type: int, shape: [1]}",
        "expect: {type: int}",
        ("risky", "expected shape [1] removed"),
    ),
    "type changed": (
        "expect: {type: int, shape: [1]}",
        "expect: {type: float, shape: [1]}",
        ("review", "expected type int -> float"),
    ),
    "runtime": ("runtime: mlserver", "runtime: mlflow", ("review", "runtime mlserver -> mlflow")),
    "requirements": (
        "requirements: [scikit-learn>=1.5, pandas>=2.2]",
        "requirements: [scikit-learn>=1.6, pandas>=2.2]",
        ("review", "requirements [scikit-learn>=1.5, pandas>=2.2] -> [scikit-learn>=1.6"),
    ),
    "requests": ("drop: [target]", "drop: [target, id]", ("review", "requests changed")),
    "model": (
        "model: train.model\n      runtime: mlserver",
        "model: train.baseline\n      runtime: mlserver",
        ("review", "serves train.model -> train.baseline"),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_a_serving_gate_change_is_rated(name: str) -> None:
    before, after, (risk, summary) = CASES[name]
    assert TEXT.count(before) == 1, before
    old = analyze_text(TEXT, str(SPEC)).pipeline
    new = analyze_text(TEXT.replace(before, after), str(SPEC)).pipeline
    [change] = [c for c in compare(old, new) if c.subject == "gate servable"]
    assert change.risk == risk
    assert change.summary.startswith(summary), change.summary
    assert change.bump == "pipeline"


def test_removing_a_serving_gate_is_risky() -> None:
    text = TEXT.replace("after: [servable, custom_server]", "after: [custom_server]")
    start = text.index("  servable:\n")
    text = text[:start] + text[text.index("  custom_server:\n") :]
    changes = compare(
        analyze_text(TEXT, str(SPEC)).pipeline, analyze_text(text, str(SPEC)).pipeline
    )
    assert ("gate servable", "removed", "risky") in [
        (c.subject, c.summary, c.risk) for c in changes
    ]
