"""Changes to loops (`for_each`): other elements, a list parameter instead of a list, a step
that joins or leaves a loop."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Change, at, show


def loop_lists(pipeline: ir.Pipeline) -> dict[str, str]:
    """The list of the loop each looped step runs in, as a reviewer reads it."""
    loops = {loop.name: loop for loop in pipeline.loops}
    return {s.name: _list(loops.get(s.loop), s.loop) for s in pipeline.steps if s.loop}


def _list(loop: ir.Loop | None, name: str) -> str:
    """A loop's list (types kept: 1 and 1.0 differ)."""
    if loop is None:
        return f"loop {name}"
    if isinstance(loop.items, ir.ParamRef):
        return f"params.{loop.items.name}"
    return show(loop.items) if loop.item_type != "float" else repr(list(loop.items))


def compare_fan_outs(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = loop_lists(old), loop_lists(new)
    kept = {s.name for s in old.steps} & {s.name for s in new.steps}
    for name in sorted(kept & (before.keys() | after.keys())):
        a, b = before.get(name, "none"), after.get(name, "none")
        if a == b:
            continue
        yield Change(
            f"step {name}",
            f"for_each {a} -> {b}",
            "review",
            "it runs once per element of another list, and a step without for_each that "
            "reads it receives a list of that many outputs",
            "pipeline",
            f"step_{name}",
            (("steps", at(name)),),
        )
