"""Load a spec file: YAML 1.2 text -> plain Python data plus a source map of every key and value.

The YAML is composed into a node tree by libyaml (through PyYAML) and converted here, so
this module decides, not a YAML library's defaults: scalars are resolved with the YAML 1.2 core
schema (`yes` and `on` are strings, `0755` is the integer 755), keys must be strings and
unique, only one document is allowed, and alias expansion is bounded in nodes and depth.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.error import MarkedYAMLError, YAMLError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mlspec.diagnostics import Diagnostic, Span, SpecError

# libyaml through PyYAML, whose wheels bundle it on Linux, macOS and Windows: it composes a
# 1,000-step spec ~20x faster than a pure-Python parser. The base loader leaves every plain
# scalar unresolved, so the YAML 1.2 rules below decide, not PyYAML's YAML 1.1 resolver. Where
# PyYAML was built without libyaml, its pure-Python loader composes the same nodes, slower.
_Loader: type[yaml.CBaseLoader | yaml.BaseLoader] = (
    yaml.CBaseLoader if yaml.__with_libyaml__ else yaml.BaseLoader
)

PathKey = tuple[str | int, ...]

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 250_000
MAX_DEPTH = 64

_DEFAULT_TAGS = {
    ScalarNode: "tag:yaml.org,2002:str",
    SequenceNode: "tag:yaml.org,2002:seq",
    MappingNode: "tag:yaml.org,2002:map",
}

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


@dataclass
class Source:
    """A loaded spec: its text, its data and where each key and value stands in the text.

    `values` and `keys` map a path to its YAML node; spans are made from nodes only when asked
    for (most never are: building them all was most of the loading time of a large spec).
    """

    file: str
    text: str
    data: Any = None
    values: dict[PathKey, Node] = field(default_factory=dict)
    keys: dict[PathKey, Node] = field(default_factory=dict)
    # Where the specs beside it are read (siblings.SpecFolder); None: its folder on disk.
    folder: Any = None

    def span(self, path: PathKey, *, key: bool = False) -> Span:
        """The span of the value at `path` (or its key), else of its nearest existing ancestor."""
        path = tuple(path)
        if key and path in self.keys:
            return _span(self.file, self.keys[path])
        while path:
            if path in self.values:
                return _span(self.file, self.values[path])
            path = path[:-1]
        return self.document_span()

    def document_span(self) -> Span:
        """Where a diagnostic about the whole spec points: its first key, not line 1, which
        may be a comment. The builder records keys in document order, the first one first."""
        first = next(iter(self.keys.values()), None) or self.values.get(())
        return _span(self.file, first) if first is not None else Span(self.file, 1, 1, 1, 1)

    def key_span(self, path: PathKey) -> Span:
        return self.span(path, key=True)

    def has(self, path: PathKey) -> bool:
        return tuple(path) in self.values

    def strings(self, keep: Callable[[str], bool]) -> list[tuple[PathKey, str, Span]]:
        """The strings (values and keys) that `keep` accepts, with path and span, in order.

        Only string scalars are offered: `keep` must refuse every text that reads as a null,
        boolean or number (e.g. by requiring a character such as `{`).
        """
        found = [
            (path, node.value, _span(self.file, node))
            for nodes in (self.keys, self.values)
            for path, node in nodes.items()
            if isinstance(node, ScalarNode) and keep(node.value)
        ]
        return sorted(found, key=lambda item: (item[2].line, item[2].col))


def read(path: str | Path, display_name: str | None = None) -> Source:
    """Read and load a spec file. Raises OSError when it cannot be read, SpecError when invalid."""
    return load_bytes(read_bytes(path), display_name or str(path))


def portable_path(file: str) -> str:
    """Where a spec is, as generated files record it: relative to the git repository that
    holds it, else to the working folder if it is in there, else its name alone. So two clones
    (or two working folders in one) generate the same bytes. POSIX form."""
    path = Path(file).resolve()
    for folder in path.parents:
        if (folder / ".git").exists():
            return path.relative_to(folder).as_posix()
    here = Path.cwd()
    return path.relative_to(here).as_posix() if path.is_relative_to(here) else path.name


_OPEN_FLAGS = os.O_RDONLY | sum(
    getattr(os, flag, 0) for flag in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY")
)


def read_bytes(path: str | Path) -> bytes:
    """A spec file's bytes, read within bounds: every command reads specs through here.

    Only a regular file is read: a folder, named pipe, device or socket raises OSError before
    it is opened (and again if one was swapped in meanwhile; the open does not block, so a pipe
    nobody writes to cannot hang the command). At most MAX_BYTES + 1 bytes are read: enough
    for `decode` to refuse a larger file (MS007) that was never read whole.
    """
    _regular(Path(path).stat(), path)
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as handle:
        _regular(os.fstat(fd), path)
        return handle.read(MAX_BYTES + 1)  # reads until that many bytes or the end


def _regular(found: os.stat_result, path: str | Path) -> None:
    if not stat.S_ISREG(found.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(found.st_mode), "not a regular file")
        raise OSError(errno.EINVAL, f"{kind}, not a regular file", str(path))


_FILE_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def load_bytes(raw: bytes, file: str) -> Source:
    return load_text(decode(raw, file), file)


def decode(raw: bytes, file: str) -> str:
    """A spec's text; MS007 if it is larger than MAX_BYTES or not UTF-8."""
    if len(raw) > MAX_BYTES:
        raise _fail(
            _point(file, 1, 1),
            "MS007",
            f"the file is larger than {MAX_BYTES:,} bytes, the limit for a spec",
            "split the pipeline or remove generated data",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _fail(
            _point(file, line, col),
            "MS007",
            "the file is not valid UTF-8",
            "save the spec as UTF-8",
        ) from None


def load_text(text: str, file: str) -> Source:
    source = Source(file=file, text=text)
    if "\x00" in text:
        pos = text.index("\x00")
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise _fail(
            _point(file, line, col),
            "MS007",
            "the file contains a NUL character",
            "save the spec as UTF-8 text",
        )
    _check_nesting(text, file)
    nodes = _compose(text, file)
    start = "start with `apiVersion: mlspec/v1` and `kind: Pipeline`"
    if not nodes or (isinstance(nodes[0], ScalarNode) and _scalar(nodes[0]) is None):
        raise _fail(_point(file, 1, 1), "MS008", "the spec is empty", start)
    if len(nodes) > 1:
        raise _fail(
            _span(file, nodes[1]),
            "MS004",
            "the file holds more than one YAML document; a spec is one document",
            "put each pipeline in its own file",
        )
    root = nodes[0]
    if not isinstance(root, MappingNode):
        raise _fail(
            _span(file, root),
            "MS005",
            f"the spec must be a mapping, not {_kind(root)}",
            start,
        )
    builder = _Builder(source)
    source.data = builder.build(root, (), 0)
    if builder.diagnostics:
        raise SpecError(builder.diagnostics)
    return source


# libyaml recurses once per nesting level and overflows the C stack at some tens of thousands;
# this cheap over-estimate stops such files before they reach it (MAX_DEPTH is the real limit).
_PARSER_DEPTH_GUARD = 5_000


def _check_nesting(text: str, file: str) -> None:
    flow = deepest_flow = deepest_line = 0
    for number, line in enumerate(text.splitlines(), 1):
        opened = line.count("[") + line.count("{")
        if opened > 100:  # rare: walk the line to find how deep it goes
            for char in line:
                flow += (char in "[{") - (char in "]}")
                deepest_flow = max(deepest_flow, flow)
        else:
            flow += opened - line.count("]") - line.count("}")
            deepest_flow = max(deepest_flow, flow)
        body = line.lstrip(" ")
        deepest_line = max(
            deepest_line, len(line) - len(body) + body.count("- ") + body.count(": ")
        )
        if max(deepest_flow, deepest_line) > _PARSER_DEPTH_GUARD:
            raise _fail(
                _point(file, number, 1),
                "MS006",
                f"the document nests deeper than {MAX_DEPTH} levels",
                "a spec needs only a few levels of nesting",
            )


def _compose(text: str, file: str) -> list[Node]:
    loader = _Loader(text)
    nodes: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node saw one
            nodes.append(node)
            if len(nodes) > 1:
                break
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        raise _fail(_point(file, 1, 1), "MS001", f"YAML syntax error: {exc}", None) from None
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose:
            dispose()
    return nodes


def _syntax_error(exc: MarkedYAMLError, text: str, file: str) -> SpecError:
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    context = f" ({exc.context.strip()})" if exc.context and exc.problem else ""
    mark, opened = exc.problem_mark or exc.context_mark, exc.context_mark
    hint = None
    if "expected ',' or '}'" in problem or "expected ',' or ']'" in problem:
        bracket = "{" if "}" in problem else "["
        if opened is not None and mark is not None and opened.line < mark.line:
            # Most likely the bracket was never closed: show where it was opened.
            mark = opened
            problem = f"this '{bracket}' is never closed"
            context = ""
            hint = f"close it on its own line, or write the {_FLOW[bracket]} in block style"
        else:
            hint = (
                "inside { } and [ ], quote values that contain ':', '[', ']', '{', '}' or "
                "',', e.g. query: 'sum(rate(x[5m]))'"
            )
    elif mark is not None and text[mark.index : mark.index + 1] == "\t":
        hint = "indent with spaces; YAML does not allow tabs for indentation"
    elif "expected key" in problem or "expected <block end>" in problem:
        hint = "check the indentation: the keys of one mapping must line up"
    elif "mapping values are not allowed" in problem or "unexpected ':'" in problem:
        hint = (
            "quote values that contain ': '; inside { } also values that contain ':', "
            "e.g. {image: 'ghcr.io/acme/x:1.0'}"
        )
    span = _point(file, mark.line + 1, mark.column + 1) if mark else _point(file, 1, 1)
    return _fail(span, "MS001", f"YAML syntax error: {problem}{context}", hint)


_FLOW = {"{": "mapping", "[": "list"}


class _Builder:
    """Converts a node tree into plain data, recording spans and collecting every problem."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.file = source.file
        self.nodes = 0
        self.diagnostics: list[Diagnostic] = []
        self.stopped = False

    def build(self, node: Node, path: PathKey, depth: int) -> Any:
        if self.stopped:
            return None
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            if self.nodes > MAX_NODES:
                message = f"the document expands to more than {MAX_NODES:,} values"
                hint = "aliases (*name) copy their anchor's whole content; nested ones multiply"
            else:
                message = f"the document nests deeper than {MAX_DEPTH} levels"
                hint = "a spec needs only a few levels; check for an alias inside its own anchor"
            span = _span(self.file, node)
            if self.nodes > MAX_NODES:
                # Aliased content shares its anchor's position: name the entry that expanded it.
                keyed = [path[:n] for n in range(len(path), 0, -1) if path[:n] in self.source.keys]
                span = self.source.key_span(keyed[0]) if keyed else span
            self.diagnostics.append(_diag(span, "MS006", message, hint))
            self.stopped = True
            return None
        self.source.values.setdefault(path, node)
        if node.tag != _DEFAULT_TAGS[type(node)]:
            self.diagnostics.append(
                _diag(
                    _span(self.file, node),
                    "MS009",
                    f"YAML tag {_shown_tag(node.tag)!r} is not supported",
                    "remove the tag; mlspec reads plain YAML 1.2 values",
                )
            )
            return None
        if isinstance(node, ScalarNode):
            value = _scalar(node)
            if isinstance(value, _OutOfRange):
                self.diagnostics.append(value.diagnostic(self.file, node))
                return None
            return value
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)  # YAML has no fourth kind of node
        return self._mapping(node, path, depth)

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, ScalarNode) else key_node
            if not isinstance(key, str) or key_node.tag != _DEFAULT_TAGS[ScalarNode]:
                what = _kind(key_node)
                if isinstance(key_node, ScalarNode) and what != "a string":
                    what = f"{key_node.value or '~'} ({what})"
                self.diagnostics.append(
                    _diag(
                        _span(self.file, key_node),
                        "MS003",
                        f"mapping keys must be strings, not {what}",
                        f'quote the key: "{key_node.value}"'
                        if isinstance(key_node, ScalarNode)
                        else None,
                    )
                )
                continue
            if key in first_seen:
                first = first_seen[key].start_mark.line + 1
                self.diagnostics.append(
                    _diag(
                        _span(self.file, key_node),
                        "MS002",
                        f"duplicate key {key!r}",
                        f"it is first defined on line {first}; "
                        "YAML keeps only one, so remove or merge the other",
                    )
                )
                continue
            first_seen[key] = key_node
            child = (*path, key)
            self.source.keys[child] = key_node
            result[key] = self.build(value_node, child, depth + 1)
        return result


@dataclass(frozen=True)
class _OutOfRange:
    """A plain number that no Python int or float may hold: reported as MS011, never loaded."""

    literal: str
    integer: bool

    def diagnostic(self, file: str, node: Node) -> Diagnostic:
        shown = self.literal if len(self.literal) <= 24 else f"{self.literal[:20]}\u2026"
        if self.integer:
            message = f"the integer {shown} has more than {MAX_INT_DIGITS:,} digits"
            hint = "no setting takes a number that large"
        else:
            message = f"the number {shown} is out of range (beyond \u00b11.8e308)"
            hint = "write a smaller number; no setting takes infinity"
        return _diag(_span(file, node), "MS011", message, hint)


# Python's own limit for int <-> str conversion (sys.get_int_max_str_digits): a longer integer
# could not even be shown in a message. As bits, for hexadecimal and octal literals.
MAX_INT_DIGITS = 4_300
_MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10))  # 2**bits < 10**digits


def _integer(text: str, base: int) -> int | _OutOfRange:
    digits = text.lstrip("+-")
    try:
        if base == 10 and len(digits) <= MAX_INT_DIGITS:
            return int(text)
        if base != 10 and (number := int(text[2:], base)).bit_length() <= _MAX_INT_BITS:
            return number
    except ValueError:  # an interpreter with a lower limit than Python's default
        pass
    return _OutOfRange(text, integer=True)


def _scalar(node: ScalarNode) -> Any:
    value = node.value
    if node.style not in (None, ""):  # quoted or block scalar: always a string
        return value
    if _NULL.match(value):
        return None
    if _BOOL.match(value):
        return value in ("true", "True", "TRUE")
    if _INT10.match(value):
        return _integer(value, 10)
    if _INT8.match(value):
        return _integer(value, 8)
    if _INT16.match(value):
        return _integer(value, 16)
    if _FLOAT.match(value):
        number = float(value)  # 1e400 is infinity to Python, not to the spec's author
        return number if math.isfinite(number) else _OutOfRange(value, integer=False)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value


def _kind(node: Node) -> str:
    """What a node holds, with its article: 'a mapping', 'an integer', 'null'."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    assert isinstance(node, ScalarNode)  # YAML has no fourth kind of node
    value = _scalar(node)
    if isinstance(value, _OutOfRange):
        return "an integer" if value.integer else "a number"
    return {bool: "a boolean", int: "an integer", float: "a number", type(None): "null"}.get(
        type(value), "a string"
    )


def _shown_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _span(file: str, node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    line, col = start.line + 1, start.column + 1
    end_line, end_col = end.line + 1, end.column + 1
    if (end_line, end_col) <= (line, col):
        end_line, end_col = line, col + 1
    return Span(file, line, col, end_line, end_col)


def _point(file: str, line: int, col: int) -> Span:
    return Span(file, line, col, line, col + 1)


def _diag(span: Span, code: str, message: str, hint: str | None) -> Diagnostic:
    return Diagnostic(span=span, code=code, message=message, hint=hint)


def _fail(span: Span, code: str, message: str, hint: str | None) -> SpecError:
    return SpecError([_diag(span, code, message, hint)])
