"""A spec change in domain terms (`Change`), its risk and version bump, and the comparison of
two bounds of a check, which most gate and analysis changes come down to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from mlspec.compiler import ir
from mlspec.compiler.fields import show_duration

Risk = Literal["risky", "review", "safe"]
# An IR field: field names and `[key]` components, e.g. ("gates", "[quality]", "description");
# a key is an element's name (or alias, or the key `numbered` gives it), or a sequence index.
Path = tuple[str, ...]
ANY = "[*]"  # in a path a change covers: any key
Bump = Literal["major", "minor", "pipeline"]
RISKS: tuple[Risk, ...] = ("risky", "review", "safe")
BUMPS: tuple[Bump, ...] = ("major", "minor", "pipeline")


@dataclass(frozen=True)
class Change:
    subject: str  # what changed, e.g. "gate model_quality"
    summary: str  # how, e.g. "min of evaluate.auc lowered 0.9 -> 0.85"
    risk: Risk
    reason: str  # why it carries that risk
    bump: Bump | None  # the smallest version bump it requires
    node: str | None = None  # the graph node it touches (mlspec.graph ids)
    # The IR fields it reports on (a path covers everything under it): the generic comparison
    # (fields.py) reports only differences no change covers.
    covers: tuple[Path, ...] = ()


T = TypeVar("T")


def keyed(items: tuple[T, ...], key: Callable[[T], str]) -> dict[str, T]:
    return {key(item): item for item in items}


def name_of(item: ir.Param | ir.Step | ir.Gate | ir.Input | ir.Loop) -> str:
    """How parameters, steps, gates, inputs and loops are keyed: by name."""
    return item.name


def numbered(items: tuple[T, ...], key: Callable[[T], str]) -> dict[str, T]:
    """Keyed by `key`; a second item with the same key is `key #2`, and so on."""
    out: dict[str, T] = {}
    for item in items:
        name, n = key(item), 1
        while (name if n == 1 else f"{name} #{n}") in out:
            n += 1
        out[name if n == 1 else f"{name} #{n}"] = item
    return out


def at(key: str) -> str:
    """A path component for the element with that key."""
    return f"[{key}]"


def show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, ir.ParamRef):
        return f"params.{value.name}"
    if isinstance(value, ir.OutputRef):
        return f"{value.step}.{value.output}"
    if isinstance(value, ir.Constant):
        return repr(value.value)
    if isinstance(value, ir.FanIn):
        return f"{show(value.ref)}[]"  # every iteration's, as a list
    if isinstance(value, ir.Item):
        return "item"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def duration(value: int | None) -> str:
    return "none" if value is None else show_duration(value)


class Bounds:
    """Compares the bounds of checks between two pipelines, reading a threshold that names a
    parameter as that parameter's default (what a scheduled run uses)."""

    def __init__(self, old: ir.Pipeline, new: ir.Pipeline) -> None:
        self.old, self.new = old, new

    def value(self, pipeline: ir.Pipeline, threshold: ir.Threshold | None) -> float | None:
        """A threshold's effective value: a number, or the default of the parameter it names."""
        if isinstance(threshold, ir.ParamRef):
            param = next((p for p in pipeline.params if p.name == threshold.name), None)
            default = param.default if param else None
            return float(default) if isinstance(default, int | float) else None
        return threshold

    def compare(
        self,
        subject: str,
        what: str,
        side: str,
        old: ir.Threshold | None,
        new: ir.Threshold | None,
        node: str | None,
        owner: Path,
    ) -> Iterator[Change]:
        """A min (side 'min') or max bound of a check that decides what passes; `owner` is the
        path of the check, requirement or analysis the bound belongs to."""
        old_value = self.value(self.old, old)
        new_value = self.value(self.new, new)
        shown = f"{show(old)} -> {show(new)}"
        if show(old) == show(new) and old_value == new_value:
            return
        # A bound that names a parameter reports that parameter's default too.
        refs = {ref.name for ref in (old, new) if isinstance(ref, ir.ParamRef)}
        covers = ((*owner, side), *(("params", at(name), "default") for name in sorted(refs)))
        if isinstance(old, ir.ParamRef) and show(old) == show(new):
            shown = f"{show(old)} default {show(old_value)} -> {show(new_value)}"
        if old_value is not None and new_value is None:
            yield Change(
                subject,
                f"{side} of {what} removed ({show(old)})",
                "risky",
                "a bound that was checked no longer is",
                "pipeline",
                node,
                covers,
            )
            return
        if old_value is None and new_value is not None:
            yield Change(
                subject,
                f"{side} of {what} added ({show(new)})",
                "safe",
                "one more bound is checked",
                "pipeline",
                node,
                covers,
            )
            return
        assert old_value is not None and new_value is not None
        looser = new_value < old_value if side == "min" else new_value > old_value
        if new_value == old_value:
            yield Change(
                subject,
                f"{side} of {what}: {shown}",
                "safe",
                "the same value, written differently",
                None,
                node,
                covers,
            )
        elif looser:
            verb = "lowered" if side == "min" else "raised"
            yield Change(
                subject,
                f"{side} of {what} {verb}: {shown}",
                "risky",
                "a looser bound lets worse results through",
                "pipeline",
                node,
                covers,
            )
        else:
            verb = "raised" if side == "min" else "lowered"
            yield Change(
                subject,
                f"{side} of {what} {verb}: {shown}",
                "safe",
                "a tighter bound",
                "pipeline",
                node,
                covers,
            )
