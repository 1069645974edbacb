"""Changes to a serving gate: what it serves, how, with which requests, and its bounds.

A serving bound that is raised or removed lets a model through that was blocked (risky); one
that is lowered or added may block a model that passed, on a measurement (latency, memory) that
varies from run to run, so a person looks at it (review) rather than calling it safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Change, Path, Risk, duration, show

Changed = Callable[..., Change]  # (summary, risk, reason, *IR fields of the check)


def compare_serving(
    a: ir.ServingCheck, b: ir.ServingCheck, subject: str, node: str, base: Path
) -> Iterator[Change]:
    serve = (*base, "serving")
    upstream = (*base, "upstream")

    def change(summary: str, risk: Risk, reason: str, *fields: str) -> Change:
        covers = tuple((*serve, f) for f in fields)
        if "model" in fields or "dataset" in fields:
            covers += (upstream,)
        return Change(subject, summary, risk, reason, "pipeline", node, covers)

    if a.model != b.model:
        yield change(
            f"serves {show(a.model)} -> {show(b.model)}",
            "review",
            "another model is served and judged",
            "model",
        )
    if (a.runtime, a.command) != (b.runtime, b.command):
        yield change(
            f"runtime {_runtime(a)} -> {_runtime(b)}",
            "review",
            "another server loads the model: check it is the one the rollout uses",
            "runtime",
            "command",
        )
    if a.requirements != b.requirements:
        yield change(
            f"requirements {show(a.requirements)} -> {show(b.requirements)}",
            "review",
            "the server's environment is built from other packages",
            "requirements",
        )
    if (a.dataset, a.drop, a.examples) != (b.dataset, b.drop, b.examples):
        yield change(
            "requests changed",
            "review",
            "other requests are sent",
            "dataset",
            "drop",
            "examples",
        )
    if a.rows != b.rows:
        fewer = b.rows < a.rows
        yield change(
            f"rows {a.rows} -> {b.rows}",
            "risky" if fewer else "review",
            "fewer requests find fewer failures" if fewer else "more requests are sent",
            "rows",
        )
    yield from _expectation(change, "type", a.expect_type, b.expect_type)
    yield from _expectation(change, "shape", a.expect_shape, b.expect_shape)
    yield from _bound(change, "ready_within", "ready_seconds", a, b, duration)
    yield from _bound(
        change, "max_p95_latency_ms", "max_p95_latency_ms", a, b, lambda v: f"{show(v)} ms"
    )
    yield from _bound(change, "max_memory", "max_memory_bytes", a, b, lambda v: f"{v} bytes")


def _runtime(check: ir.ServingCheck) -> str:
    return f"command {show(check.command)}" if check.runtime == "command" else check.runtime


def _expectation(change: Changed, what: str, old: object, new: object) -> Iterator[Change]:
    field = f"expect_{what}"
    if old == new:
        return
    if new is None:
        yield change(
            f"expected {what} {show(old)} removed",
            "risky",
            f"answers are no longer checked for their {what}",
            field,
        )
    else:
        yield change(
            f"expected {what} {show(old)} -> {show(new)}",
            "review",
            f"answers of another {what} now fail the gate",
            field,
        )


def _bound(
    change: Changed,
    name: str,
    field: str,
    a: ir.ServingCheck,
    b: ir.ServingCheck,
    shown: Callable[[int], str],
) -> Iterator[Change]:
    old, new = getattr(a, field), getattr(b, field)
    if old == new:
        return
    summary = f"{name} {'none' if old is None else shown(old)} -> "
    summary += "none" if new is None else shown(new)
    if new is None or (old is not None and new > old):
        yield change(summary, "risky", "a looser bound lets a worse server through", field)
    else:
        yield change(
            summary,
            "review",
            "a tighter bound on a measurement that varies may block a model that passed",
            field,
        )
