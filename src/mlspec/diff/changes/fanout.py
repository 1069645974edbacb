"""Changes to fan-out (`for_each`): a longer or shorter list, or other elements. The copies a
list adds or drops are this change, not steps added or removed one by one."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Change, at, show


def fan_outs(pipeline: ir.Pipeline) -> dict[str, list[ir.Step]]:
    """The copies of each fanned step of the spec, in for_each order."""
    found: dict[str, list[ir.Step]] = {}
    for step in pipeline.steps:
        if step.fan_out is not None:
            found.setdefault(step.fan_out.step, []).append(step)
    return found


def compare_fan_outs(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = fan_outs(old), fan_outs(new)
    for name in sorted(before.keys() & after.keys()):
        a = tuple(_items(before[name]))
        b = tuple(_items(after[name]))
        if a == b:
            continue
        copies = {s.name for s in before[name]} | {s.name for s in after[name]}
        yield Change(
            f"step {name}",
            f"for_each {show(a)} -> {show(b)}",
            "review",
            f"it runs {len(b)} times instead of {len(a)}, and a step without for_each that "
            "reads it receives a list of that many outputs",
            "pipeline",
            f"step_{name}",
            tuple(("steps", at(c)) for c in sorted(copies)),
        )


def regrouped(old: ir.Pipeline, new: ir.Pipeline) -> set[str]:
    """Copies added or dropped by a for_each change (reported by `compare_fan_outs`)."""
    before, after = fan_outs(old), fan_outs(new)
    both = before.keys() & after.keys()
    return {s.name for n in both for s in [*before[n], *after[n]]}


def _items(copies: list[ir.Step]) -> Iterator[ir.Scalar]:
    for step in copies:
        assert step.fan_out is not None
        yield step.fan_out.item
