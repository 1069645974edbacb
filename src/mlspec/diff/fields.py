"""The generic comparison: every IR difference that no hand-written rule reported.

The rules (changes/) know what a change means and rate it, and each change names
the IR fields it covers. This walk compares the rest field by field over the frozen IR
dataclasses themselves, so a field added to the IR is compared without a line here:

- a node (a dataclass with a `span`) field by field; a value (a reference, `Resources`) whole;
- a tuple of nodes by key: `name`, `alias`, or the key the rules give it (`Keys`: a gate's
  checks and requirements), so reordering changes nothing; nodes without a key (canary steps)
  in order, aligned so that an inserted or deleted step is one change;
- a tuple of pairs (labels, tags, required columns) as a mapping; any other tuple as a
  multiset (lists of names, packages, categories), except `command` and `args`, whose order is
  what runs.

Not compared: spans (where the text sits), the pipeline's `source_file` and `spec_path` (each
side's label),
`version` (the version check's subject, not a change) and fields that are an index of the spec
rather than part of the pipeline (`metadata={"dump": False}`, such as `texts_with_braces`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from mlspec.compiler import ir
from mlspec.diagnostics import Span
from mlspec.diff.model import ANY, Bump, Change, Path, at, duration, numbered, show
from mlspec.graph import node_id

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Keys = Mapping[type, Callable[[Any], str]]

SKIPPED = frozenset({"source_file", "spec_path", "version"})  # fields of the pipeline itself
ORDERED = frozenset({"command", "args"})  # tuples of values whose order matters
# Where a subject starts, named as the rules name it: (path prefix, noun, graph node prefix).
SUBJECTS: tuple[tuple[Path, str, str | None], ...] = (
    (("params",), "param", None),
    (("steps",), "step", "step"),
    (("gates",), "gate", "gate"),
    (("registry", "rules"), "promotion", "promote"),
    (("tests",), "test", None),
)
_MISSING = object()  # the side an element was added to or removed from
_CLIP = 80  # characters of a long text shown, around its first difference


@dataclass(frozen=True)
class Difference:
    path: Path
    old: object  # _MISSING: added
    new: object  # _MISSING: removed
    # An added or removed node's set fields: it is covered when each of them is.
    leaves: tuple[Path, ...] = ()


def remaining(
    old: ir.Pipeline, new: ir.Pipeline, reported: Iterable[Change], keys: Keys
) -> list[Change]:
    """A `review` change (no version bump for a description) for every difference between
    `old` and `new` that no reported change covers, in IR order."""
    covers = [path for change in reported for path in change.covers]
    return [
        _change(new, d)
        for d in differences(old, new, keys)
        if not _covered(d.path, covers)
        and not (d.leaves and all(_covered(leaf, covers) for leaf in d.leaves))
    ]


def differences(old: ir.Pipeline, new: ir.Pipeline, keys: Keys) -> Iterator[Difference]:
    for f in fields(old):
        if f.name not in SKIPPED and f.metadata.get("dump", True):
            yield from _value(getattr(old, f.name), getattr(new, f.name), (f.name,), keys)


def node_changes(new: ir.Pipeline, a: object, b: object, path: Path, keys: Keys) -> list[Change]:
    """The generic changes between two versions of one node at `path`, for a rule that rates
    them itself (a field whose pipeline field the walk skips: step tests)."""
    return [_change(new, d) for d in _value(a, b, path, keys)]


def _value(a: object, b: object, path: Path, keys: Keys) -> Iterator[Difference]:
    if isinstance(a, Span) or isinstance(b, Span):
        return
    if _is_node(a) and type(a) is type(b):
        for f in fields(a):
            yield from _value(getattr(a, f.name), getattr(b, f.name), (*path, f.name), keys)
    elif isinstance(a, tuple) and isinstance(b, tuple):
        yield from _tuple(a, b, path, keys)
    elif _canon(a) != _canon(b):
        yield Difference(path, a, b)


def _tuple(a: tuple, b: tuple, path: Path, keys: Keys) -> Iterator[Difference]:
    items = a + b
    if items and all(_is_node(item) for item in items):
        key = _key(type(items[0]), keys)
        if key is None:
            yield from _sequence(a, b, path, keys)
        else:
            yield from _mapping(numbered(a, key), numbered(b, key), path, keys)
    elif _is_mapping(a) and _is_mapping(b):
        yield from _mapping(dict(a), dict(b), path, keys)
    elif path[-1] in ORDERED:
        if _canon(a) != _canon(b):
            yield Difference(path, a, b)
    elif sorted(map(_canon, a), key=repr) != sorted(map(_canon, b), key=repr):
        yield Difference(path, a, b)


def _mapping(
    a: Mapping[str, object], b: Mapping[str, object], path: Path, keys: Keys
) -> Iterator[Difference]:
    for name in sorted(a.keys() | b.keys()):
        where = (*path, at(name))
        if name not in b:
            yield _gone(where, a[name], _MISSING)
        elif name not in a:
            yield _gone(where, _MISSING, b[name])
        else:
            yield from _value(a[name], b[name], where, keys)


def _sequence(a: tuple, b: tuple, path: Path, keys: Keys) -> Iterator[Difference]:
    """Aligned like a text diff: an inserted element is one difference, not a shifted tail."""
    matcher = difflib.SequenceMatcher(None, [_canon(x) for x in a], [_canon(y) for y in b])
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1)
        for n in range(pairs):  # replaced in place: compared field by field
            yield from _value(a[i1 + n], b[j1 + n], (*path, at(str(j1 + n))), keys)
        for i in range(i1 + pairs, i2):
            yield _gone((*path, at(str(i))), a[i], _MISSING)
        for j in range(j1 + pairs, j2):
            yield _gone((*path, at(str(j))), _MISSING, b[j])


def _gone(path: Path, a: object, b: object) -> Difference:
    """An element only one side has."""
    node = b if a is _MISSING else a
    leaves: tuple[Path, ...] = ()
    if _is_node(node):
        leaves = tuple((*path, f.name) for f, value in _set_fields(node))
    return Difference(path, a, b, leaves)


# -- what is what -------------------------------------------------------------------------------


def _is_node(value: object) -> TypeGuard[DataclassInstance]:
    return is_dataclass(value) and any(f.name == "span" for f in fields(value))


def _is_mapping(items: tuple) -> bool:
    pairs = all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in items)
    return pairs and len({i[0] for i in items}) == len(items)


def _key(cls: type, keys: Keys) -> Callable[[Any], str] | None:
    if cls in keys:
        return keys[cls]
    names = {f.name for f in fields(cls)}
    field = next((name for name in ("name", "alias") if name in names), None)
    return None if field is None else (lambda item: getattr(item, field))


def _canon(value: object) -> object:
    """A hashable form, equal exactly when the values mean the same: spans left out, and the
    type kept (1, 1.0 and True are three values)."""
    if is_dataclass(value):
        parts = tuple(
            _canon(getattr(value, f.name))
            for f in fields(value)
            if not isinstance(getattr(value, f.name), Span)
        )
        return (type(value).__name__, parts)
    if isinstance(value, tuple):
        return tuple(_canon(item) for item in value)
    return (type(value).__name__, value)


def _set_fields(node: DataclassInstance) -> Iterator[tuple[Any, object]]:
    for f in fields(node):
        value = getattr(node, f.name)
        if value is not None and value != () and not isinstance(value, Span):
            yield f, value


def _covered(path: Path, covers: Iterable[Path]) -> bool:
    return any(
        len(cover) <= len(path)
        and all(
            c == p or (c == ANY and p.startswith("[")) for c, p in zip(cover, path, strict=False)
        )
        for cover in covers
    )


# -- the change ---------------------------------------------------------------------------------


def _change(new: ir.Pipeline, d: Difference) -> Change:
    subject, node, rest = _subject(new, d.path)
    field = next(part for part in reversed(d.path) if not part.startswith("["))
    where = _dotted(rest)
    if d.old is _MISSING:
        summary = f"{where} added ({_show(d.new, field)})"
    elif d.new is _MISSING:
        summary = f"{where} removed ({_show(d.old, field)})"
    else:
        before, after = _pair(d.old, d.new, field)
        summary = f"{where} {before} -> {after}"
    bump: Bump | None
    if field == "description":
        reason, bump = "text people read; nothing that runs changes", None
    else:
        reason, bump = "no rule rates this field: read what it changes", "pipeline"
    return Change(subject, summary.strip(), "review", reason, bump, node, (d.path,))


def _subject(new: ir.Pipeline, path: Path) -> tuple[str, str | None, Path]:
    """Who the change is about, as the rules say it ("step train", "rollout"), its graph node,
    and the rest of the path."""
    for prefix, noun, node in SUBJECTS:
        n = len(prefix)
        if path[:n] == prefix and len(path) > n:
            name = path[n][1:-1]
            return f"{noun} {name}", node and node_id(node, name), path[n + 1 :]
    if len(path) > 1 and not path[1].startswith("["):  # a section: registry, rollout, schedule
        return path[0], path[0], path[1:]
    return "pipeline", None, path


def _dotted(path: Path) -> str:
    return "".join(part if part.startswith("[") else f".{part}" for part in path).lstrip(".")


def _pair(a: object, b: object, field: str) -> tuple[str, str]:
    """Two texts, long ones clipped to the same window around where they first differ."""
    if not (isinstance(a, str) and isinstance(b, str)) or max(len(a), len(b)) <= _CLIP:
        return _show(a, field), _show(b, field)
    same = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    start = max(0, same - _CLIP // 3)

    def clip(text: str) -> str:
        window = text[start : start + _CLIP]
        return ("…" if start else "") + window + ("…" if start + _CLIP < len(text) else "")

    return json.dumps(clip(a), ensure_ascii=False), json.dumps(clip(b), ensure_ascii=False)


def _show(value: object, field: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and field.endswith("_seconds"):
        return duration(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # quoted: "" and whitespace show
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(item, field) for item in value) + "]"
    if isinstance(value, ir.ParamRef | ir.OutputRef | ir.Constant):
        return show(value)
    if is_dataclass(value) and not isinstance(value, type):
        shown = ", ".join(f"{f.name}: {_show(v, f.name)}" for f, v in _set_fields(value))
        return "{" + shown + "}"
    return show(value)
