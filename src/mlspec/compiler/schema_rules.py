"""Building blocks for the JSON Schema rules that the models declare beside their validators.

A field left out and a field written empty (`image:`, read as null) mean the same to the
models, so "set" below means present and not null. Conditions that look into a nested value
say its type: JSON Schema's `required` and `contains` hold for any value of another type.
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]
_FLAGS_OR_NAMED_GROUP = re.compile(r"\(\?<?[A-Za-z]")


def is_set(key: str) -> Schema:
    return {"required": [key], "properties": {key: {"not": {"type": "null"}}}}


def is_unset(key: str) -> Schema:
    return {"properties": {key: {"type": "null"}}}


def is_empty(key: str) -> Schema:
    """A list field that is left out, null or `[]`."""
    return {"properties": {key: {"anyOf": [{"type": "null"}, {"maxItems": 0}]}}}


def exactly_one(*keys: str) -> Schema:
    return {"oneOf": [is_set(key) for key in keys]}


def at_least_one(*keys: str) -> Schema:
    return {"anyOf": [is_set(key) for key in keys]}


def when(condition: Schema, then: Schema) -> Schema:
    return {"if": condition, "then": then}


def unless(condition: Schema, then: Schema) -> Schema:
    return {"if": condition, "else": then}


def field(key: str, schema: Schema) -> Schema:
    """The value of `key`, where it is set, satisfies `schema`."""
    return {"properties": {key: schema}}


def has(key: str, schema: Schema) -> Schema:
    """A condition: `key` is set to a mapping that satisfies `schema`."""
    return {"type": "object", "required": [key], "properties": {key: {"type": "object", **schema}}}


def has_item(key: str, schema: Schema) -> Schema:
    """A condition: `key` is set to a list with an item that satisfies `schema`."""
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "contains": schema}},
    }


def each_value(schema: Schema) -> Schema:
    """Every value of a mapping satisfies `schema`."""
    return {"additionalProperties": schema}


def some_value(schema: Schema) -> Schema:
    """A condition: some value of a mapping satisfies `schema`."""
    return {"type": "object", "not": {"additionalProperties": {"not": schema}}}


def not_matching(pattern: str) -> Schema:
    """A string that `pattern` does not match (other values pass)."""
    return {"not": {"type": "string", "pattern": pattern}}


def rules(*parts: Schema) -> Schema:
    """The `json_schema_extra` of a model: all of `parts` hold."""
    return {"allOf": list(parts)}


def ignore_case(pattern: str) -> str:
    """`pattern`, matching either case of every ASCII letter: JSON Schema has no flags.

    Letters outside a class become `[aA]`; a class gains the other case of its letters and
    letter ranges; escapes are kept. Inline flags, named groups and code escapes are refused.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escape = pattern[i : i + 2]
            _check_escape(escape, pattern)
            out.append(escape)
            i += 2
        elif char == "[":
            end = _class_end(pattern, i)
            body = pattern[i + 1 : end]
            # The other case goes before a closing '-', which would otherwise start a range.
            dash = "-" if body.endswith("-") and not body.endswith("\\-") else ""
            body = body.removesuffix(dash)
            out.append(f"[{body}{_other_case(body, pattern)}{dash}]")
            i = end + 1
        elif _FLAGS_OR_NAMED_GROUP.match(pattern, i):
            raise ValueError(f"ignore_case: inline flags and named groups are refused: {pattern!r}")
        elif char.isascii() and char.isalpha():
            out.append(f"[{char.lower()}{char.upper()}]")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _check_escape(escape: str, pattern: str) -> None:
    letter = escape[1:]
    if letter.isalnum() and letter not in "dDsSwWbB":
        raise ValueError(f"ignore_case: escape {escape!r} is refused in {pattern!r}")


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _other_case(body: str, pattern: str) -> str:
    """The letters and letter ranges of a class body, in the other case."""
    extra: list[str] = []
    i = 1 if body.startswith("^") else 0
    while i < len(body):
        if body[i] == "\\":
            _check_escape(body[i : i + 2], pattern)
            i += 2
            continue
        low, high = body[i], body[i]
        if body[i + 1 : i + 2] == "-" and i + 2 < len(body):
            high = body[i + 2]
            i += 3
        else:
            i += 1
        if (
            all(c.isascii() and c.isalpha() for c in (low, high))
            and low.islower() == high.islower()
        ):
            swapped = low.swapcase() + (f"-{high.swapcase()}" if high != low else "")
            extra.append(swapped)
    return "".join(extra)
