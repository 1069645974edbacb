"""Spec values -> Python source text: the only way a spec value reaches generated Python.

Generated modules are built from templates whose only variable parts are `Code` objects made
here. A string from the spec becomes a string literal (`repr`), never an expression, so no spec
text can turn into code however it is quoted. Strings that Airflow later renders with Jinja pass
through `jinja_text` first, so that `{{ ... }}` in a spec stays text there too.
"""

from __future__ import annotations

import ast
import json
import math
import string

WIDTH = 99  # generated lines aim to stay within ruff's default plus a margin


class Code(str):
    """Python source text that mlspec built; the only thing a template may print."""

    __slots__ = ()


def literal(value: object, indent: int = 0, lead: int = 0) -> Code:
    """Python source for a plain value: None, bool, int, float, str, list/tuple, dict.

    It stays on one line when that fits in WIDTH after `indent` levels and `lead` characters
    already on the line; otherwise containers take one item per line.
    """
    flat = _flat(value)
    fits = indent * 4 + lead + len(flat) <= WIDTH
    if fits or not isinstance(value, list | tuple | dict) or not value:
        return Code(flat)
    pad = "    " * (indent + 1)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            key = f"{_flat(k)}: "
            items.append(f"{pad}{key}{literal(v, indent + 1, len(key) + 1)},")
        return Code("{\n" + "\n".join(items) + "\n" + "    " * indent + "}")
    items = [f"{pad}{literal(v, indent + 1, 1)}," for v in value]
    return Code("[\n" + "\n".join(items) + "\n" + "    " * indent + "]")


def _flat(value: object) -> str:
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no Python literal")  # the front end refuses these
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only string keys have a literal here")
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def identifier(name: str) -> Code:
    """A name that the spec's own rules made an identifier (steps, gates, parameters)."""
    if not name.isidentifier() or not name.isascii():
        raise ValueError(f"{name!r} is not an identifier")
    return Code(name)


def text_block(text: str) -> Code:
    """mlspec's own multi-line text (the embedded runtime) as one triple-quoted literal.

    One string token compiles about ten times faster than a literal per line, which matters in
    a DAG file that Airflow parses again and again, and it still reads as the code it holds.
    Never for spec text: the result is checked to evaluate back to `text` exactly.
    """
    body = text.replace("\\", "\\\\")
    if "'''" in body or body.endswith("'") or "\r" in body:
        raise ValueError("text that a triple-quoted literal cannot hold as it is")
    block = Code("'''\\\n" + body + "'''")
    if ast.literal_eval(block) != text:
        raise ValueError("the literal does not evaluate back to the text")
    return block


def json_block(value: object) -> Code:
    """Data as `json.loads(r'''...''')`: one string token, which compiles several times faster
    than the same data as nested Python literals (it matters in a DAG file parsed again and
    again), and still reads as indented JSON.

    Safe for spec text: `ensure_ascii` leaves only printable ASCII, every `'` becomes the JSON
    escape `\\u0027`, so the raw literal can neither end early nor hold a line break of its own;
    the result is checked to decode back to `value`.
    """
    text = json.dumps(value, indent=1, ensure_ascii=True, allow_nan=False)
    text = text.replace("'", "\\u0027")
    block = Code("json.loads(r'''\n" + text + "\n''')")
    if json.loads(ast.literal_eval(block[len("json.loads(") : -1])) != value:
        raise ValueError("the literal does not decode back to the value")
    return block


# Characters a Jinja string literal may carry as they are; everything else is \u-escaped.
_JINJA_SAFE = frozenset(string.ascii_letters + string.digits + " _-./:,=@+")


def jinja_text(text: str) -> str:
    """Template text that Jinja renders as exactly `text`.

    Only `{` can open Jinja syntax (`{{`, `{%`, `{#`, and a trailing `{` would join the next
    placeholder), and Jinja rewrites line breaks (`\r\n` and `\r` become `\n`, a final one is
    dropped), so text without either is already its own template. Other text becomes one Jinja
    string-literal expression whose unsafe characters are escapes, which Jinja decodes: no
    character of the spec survives to be read as a delimiter, a quote or a line break.
    """
    if "{" not in text and "\r" not in text and "\n" not in text:
        return text
    escaped = "".join(
        ch
        if ch in _JINJA_SAFE
        else f"\\u{ord(ch):04x}"
        if ord(ch) <= 0xFFFF
        else f"\\U{ord(ch):08x}"
        for ch in text
    )
    return "{{ '" + escaped + "' }}"


def google_docstring(summary: str, args: list[tuple[str, str]]) -> str:
    """A docstring's text with an Args section, one line per argument: where kfp and Prefect
    read parameter descriptions from."""
    lines = "".join(f"\n    {name}: {' '.join(text.split())}" for name, text in args)
    return f"{summary}\n\nArgs:{lines}\n"


def comment(text: str) -> Code:
    """Text for a `#` comment: a line break or other unprintable character would end it."""
    return Code(text if text.isprintable() else ascii(text))
