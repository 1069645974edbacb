"""Changes to loops (`for_each`): a loop added or removed, other elements (or a list parameter
instead of a list), a step that joins or leaves a loop, a gate that becomes per-item or stops
being one. Keyed by the loop's name (its first member step)."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Change, at, keyed, name_of, show

LIST_REASON = (
    "it runs once per element of another list, and a step without for_each that reads it "
    "receives a list of that many outputs"
)


def describe(loop: ir.Loop) -> str:
    """A loop's list as a reviewer reads it (types kept: 1 and 1.0 differ)."""
    if isinstance(loop.items, ir.ParamRef):
        return f"params.{loop.items.name}"
    return show(loop.items) if loop.item_type != "float" else repr(list(loop.items))


def compare_loops(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = keyed(old.loops, name_of), keyed(new.loops, name_of)
    for name in sorted(before.keys() ^ after.keys()):
        loop = after.get(name) or before[name]
        what = "added" if name in after else "removed"
        yield Change(
            f"loop {name}",
            f"{what} (for_each {describe(loop)}: {', '.join(loop.steps)})",
            "review",
            "its steps run once per element" if name in after else "its steps run once",
            "pipeline",
            covers=(("loops", at(name)),),
        )
    for name in sorted(before.keys() & after.keys()):
        a, b = before[name], after[name]
        if (a.items, a.item_type) != (b.items, b.item_type):
            yield Change(
                f"loop {name}",
                f"for_each {describe(a)} -> {describe(b)}",
                "review",
                LIST_REASON,
                "pipeline",
                covers=(("loops", at(name), "items"), ("loops", at(name), "item_type")),
            )
    yield from _members(old, new, "step", keyed(old.steps, name_of), keyed(new.steps, name_of))
    yield from _members(old, new, "gate", keyed(old.gates, name_of), keyed(new.gates, name_of))


def _members(
    old: ir.Pipeline,
    new: ir.Pipeline,
    kind: str,
    before: dict[str, ir.Step] | dict[str, ir.Gate],
    after: dict[str, ir.Step] | dict[str, ir.Gate],
) -> Iterator[Change]:
    """A step or gate kept on both sides that joins, leaves or changes loops."""
    field = "steps" if kind == "step" else "gates"
    for name in sorted(before.keys() & after.keys()):
        a, b = before[name].loop, after[name].loop
        if a == b:
            continue
        loops = [loop for loop in (a, b) if loop is not None]
        yield Change(
            f"{kind} {name}",
            f"{_where(old, kind, a)} -> {_where(new, kind, b)}",
            "review",
            _reason(kind, b),
            "pipeline",
            f"{'step' if kind == 'step' else 'gate'}_{name}",
            ((field, at(name), "loop"), *(("loops", at(loop), field) for loop in loops)),
        )


def _where(pipeline: ir.Pipeline, kind: str, loop: str | None) -> str:
    if loop is None:
        return "runs once" if kind == "step" else "judged once"
    found = next((lp for lp in pipeline.loops if lp.name == loop), None)
    items = describe(found) if found is not None else "?"
    return f"{'runs' if kind == 'step' else 'judged'} per item of loop {loop} ({items})"


def _reason(kind: str, loop: str | None) -> str:
    if kind == "step":
        return LIST_REASON if loop is not None else "it runs once, and its readers get one output"
    if loop is not None:
        return (
            "each item is judged on its own: a blocked item stops that item's steps, and what "
            "waits outside the loop needs every item to pass"
        )
    return "it judges one output per run instead of one per item"
