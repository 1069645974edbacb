"""Fan-out: a step with `for_each` runs once per element of its list.

The list is written in the spec, so the compiler unrolls it: each element becomes a step of its
own, named `STEP__SUFFIX`, and every target runs those as it runs any step (in parallel where
nothing orders them). The suffix is the element itself when every element is a short lower-case
word or a non-negative integer (`features__eu`), else its index (`features__0`): names that
every target accepts, that say which element a task handles, and that never collide (MS226).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlspec.compiler import ir
    from mlspec.diagnostics import Diagnostic

SEPARATOR = "__"
_WORD = re.compile(r"[a-z0-9][a-z0-9_]{0,19}")

Item = int | float | str


def suffixes(items: list[Item] | tuple[Item, ...]) -> list[str]:
    """The name suffix of each element's copy, in list order."""
    words = [
        str(i)
        for i in items
        if (isinstance(i, str) and _WORD.fullmatch(i) and SEPARATOR not in i)
        or (isinstance(i, int) and not isinstance(i, bool) and i >= 0)
    ]
    if len(words) == len(items) and len(set(words)) == len(words):
        return words
    return [str(n) for n in range(len(items))]


def copy_names(step: str, items: list[Item] | tuple[Item, ...]) -> list[str]:
    return [f"{step}{SEPARATOR}{suffix}" for suffix in suffixes(items)]


def item_type(items: list[Item] | tuple[Item, ...]) -> str:
    """The spec type of the elements (checked to be one: MS226)."""
    return {int: "int", float: "float", str: "str"}[type(items[0])]


def said_once(pipeline: ir.Pipeline, found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """A back end's diagnostics about the copies of one fanned step, said once of the spec's
    step: they stand at its line, and the user wrote one step, not one per element."""
    origin = {s.name: s.fan_out.step for s in pipeline.steps if s.fan_out is not None}
    if not origin:
        return list(found)
    quoted = re.compile("'(" + "|".join(re.escape(n) for n in sorted(origin, reverse=True)) + ")'")

    def spec_names(text: str | None) -> str | None:
        return None if text is None else quoted.sub(lambda m: f"'{origin[m.group(1)]}'", text)

    return list(
        dict.fromkeys(
            dataclasses.replace(d, message=spec_names(d.message) or "", hint=spec_names(d.hint))
            for d in found
        )
    )
