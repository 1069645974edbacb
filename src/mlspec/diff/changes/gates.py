"""Changes to gates: what they read, their data checks and requirements, first run, on_fail;
a serving gate's own: changes/serving.py."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.changes.serving import compare_serving
from mlspec.diff.model import Bounds, Change, Path, at, keyed, name_of, numbered, show


def compare_gates(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = keyed(old.gates, name_of), keyed(new.gates, name_of)
    bounds = Bounds(old, new)
    for name in sorted(before.keys() - after.keys()):
        yield Change(
            f"gate {name}",
            "removed",
            "risky",
            "nothing checks what it checked",
            "pipeline",
            f"gate_{name}",
            (("gates", at(name)),),
        )
    for name in sorted(after.keys() - before.keys()):
        yield Change(
            f"gate {name}",
            "added",
            "safe",
            "one more check before promotion",
            "pipeline",
            f"gate_{name}",
            (("gates", at(name)),),
        )
    for name in sorted(before.keys() & after.keys()):
        yield from _gate(before[name], after[name], bounds)


def _gate(a: ir.Gate, b: ir.Gate, bounds: Bounds) -> Iterator[Change]:
    subject, node, base = f"gate {a.name}", f"gate_{a.name}", ("gates", at(a.name))
    # The steps a gate waits for follow from what it reads: its dataset, metrics, references.
    upstream = (*base, "upstream")
    if a.dataset != b.dataset:
        yield Change(
            subject,
            f"checks {show(a.dataset)} -> {show(b.dataset)}",
            "review",
            "it judges other data",
            "pipeline",
            node,
            ((*base, "dataset"), upstream),
        )
    yield from data_checks(a.checks, b.checks, bounds, subject, node, base)
    yield from _requirements(a, b, bounds, subject, node, base)
    if a.serving is not None and b.serving is not None:
        yield from compare_serving(a.serving, b.serving, subject, node, base)
    if a.first_run != b.first_run:
        risky = b.first_run == "pass"
        yield Change(
            subject,
            f"first_run {a.first_run} -> {b.first_run}",
            "risky" if risky else "safe",
            "a first model now passes without a champion to beat"
            if risky
            else "a first model must now be promoted by hand",
            "pipeline",
            node,
            ((*base, "first_run"),),
        )
    if a.on_fail != b.on_fail:
        yield Change(
            subject,
            f"on_fail {a.on_fail} -> {b.on_fail}",
            "review",
            "a failed gate now "
            + ("only skips what follows" if b.on_fail == "block" else "fails the run"),
            "pipeline",
            node,
            ((*base, "on_fail"),),
        )


def data_checks(
    a: tuple[ir.DataCheck, ...],
    b: tuple[ir.DataCheck, ...],
    bounds: Bounds,
    subject: str,
    node: str,
    base: Path,
) -> Iterator[Change]:
    """The checks of a data gate (or of a monitor: changes/monitor.py), keyed by `check_key`."""
    old = numbered(a, check_key)
    new = numbered(b, check_key)
    for key in sorted(old.keys() - new.keys()):
        yield Change(
            subject,
            f"check {key} removed",
            "risky",
            "that data is no longer checked",
            "major" if key.startswith("columns") else "pipeline",
            node,
            ((*base, "checks", at(key)), (*base, "upstream")),
        )
    for key in sorted(new.keys() - old.keys()):
        yield Change(
            subject,
            f"check {key} added",
            "safe",
            "the data is checked more",
            "major" if key.startswith("columns") else "pipeline",
            node,
            ((*base, "checks", at(key)), (*base, "upstream")),
        )
    for key in sorted(old.keys() & new.keys()):
        x, y, check = old[key], new[key], (*base, "checks", at(key))
        what = f"check {key}"
        yield from bounds.compare(subject, what, "min", x.min, y.min, node, check)
        yield from bounds.compare(subject, what, "max", x.max, y.max, node, check)
        if x.columns != y.columns:
            yield Change(
                subject,
                f"check {key}: required columns changed",
                "review",
                "the dataset's schema changed",
                "major",
                node,
                ((*check, "columns"),),
            )
        if set(y.allowed) > set(x.allowed):
            yield Change(
                subject,
                f"check {key}: more categories allowed",
                "risky",
                "values that failed before now pass",
                "pipeline",
                node,
                ((*check, "allowed"),),
            )
        elif set(y.allowed) != set(x.allowed):
            yield Change(
                subject,
                f"check {key}: allowed categories changed",
                "review",
                "other values pass",
                "pipeline",
                node,
                ((*check, "allowed"),),
            )
        drift = ("method", "reference", "reference_uri", "bins")
        if any(getattr(x, f) != getattr(y, f) for f in drift):
            yield Change(
                subject,
                f"check {key}: drift method, reference or bins changed",
                "review",
                "drift is measured differently, or against something else",
                "pipeline",
                node,
                (
                    (*check, "method"),
                    (*check, "reference"),
                    (*check, "reference_uri"),
                    (*check, "bins"),
                    (*base, "upstream"),
                ),
            )


def _requirements(
    a: ir.Gate, b: ir.Gate, bounds: Bounds, subject: str, node: str, base: Path
) -> Iterator[Change]:
    old = numbered(a.requirements, requirement_key)
    new = numbered(b.requirements, requirement_key)
    for key in sorted(old.keys() - new.keys()):
        yield Change(
            subject,
            f"requirement {key} removed",
            "risky",
            "models are no longer held to it",
            "pipeline",
            node,
            ((*base, "requirements", at(key)), (*base, "upstream")),
        )
    for key in sorted(new.keys() - old.keys()):
        yield Change(
            subject,
            f"requirement {key} added",
            "safe",
            "models must meet one more requirement",
            "pipeline",
            node,
            ((*base, "requirements", at(key)), (*base, "upstream")),
        )
    for key in sorted(old.keys() & new.keys()):
        x, y, req = old[key], new[key], (*base, "requirements", at(key))
        yield from bounds.compare(subject, key, "min", x.min, y.min, node, req)
        yield from bounds.compare(subject, key, "max", x.max, y.max, node, req)
        if x.tolerance != y.tolerance:
            wider = y.tolerance > x.tolerance
            yield Change(
                subject,
                f"{key}: tolerance {x.tolerance:g} -> {y.tolerance:g}",
                "risky" if wider else "safe",
                "a model may now be worse than the champion by more"
                if wider
                else "a model may trail the champion by less",
                "pipeline",
                node,
                ((*req, "tolerance"),),
            )
        if x.better != y.better:
            yield Change(
                subject,
                f"{key}: better {x.better} -> {y.better}",
                "risky",
                "the comparison with the champion is reversed",
                "pipeline",
                node,
                ((*req, "better"),),
            )


def check_key(check: ir.DataCheck) -> str:
    """A check per column (a list of columns is lowered to one each), so that a column added is
    a check added (safe) and one removed a check removed (risky); a pattern is its own key: its
    change is the old pattern's check removed and the new one's added."""
    if check.pattern is not None:
        return f"{check.kind}(/{check.pattern}/)"
    return f"{check.kind}({check.column})" if check.column else check.kind


def requirement_key(req: ir.Requirement) -> str:
    metric = show(req.metric)
    return f"{metric} vs {req.vs}" if req.vs is not None else metric
