"""The YAML readers mlspec's output meets, for tests: every generated file must read back the same
under each of them.

- PyYAML `safe_load` (YAML 1.1): Prefect reads prefect.yaml with it, kfp reads the IR with it.
- ruamel.yaml's safe loader (YAML 1.2), as many Go and JavaScript tools resolve scalars:
  `1e3` is a float, `0o17` an int.
- go-yaml v2 (kubectl, Argo CD, the Kubeflow API server through sigs.k8s.io/yaml): `y`, `n`,
  `on` are booleans, Go's number syntax (`0b101`, `1_000`, `08` as a float). It is ported here
  from go-yaml v2's resolve.go (its `resolve`, `parseTimestamp`, and the encoder's base-60 rule,
  which v2 quotes on output for other readers) onto PyYAML's BaseLoader, whose composer leaves
  every scalar a string with its style, so that only plain scalars are resolved.
"""

from __future__ import annotations

import calendar
import math
import re
from typing import Any

import yaml
from ruamel.yaml import YAML

STR = "tag:yaml.org,2002:str"


class Resolved:
    """A plain scalar a reader takes for something other than a string."""

    def __init__(self, reader: str, tag: str, text: str, value: object) -> None:
        self.reader, self.tag, self.text, self.value = reader, tag, text, value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resolved) and (self.tag, self.text) == (other.tag, other.text)

    def __hash__(self) -> int:
        return hash((self.tag, self.text))

    def __repr__(self) -> str:
        return f"<{self.reader}: {self.text!r} as {self.tag}>"


# -- go-yaml v2 ------------------------------------------------------------------------------

_GO_HINT = dict.fromkeys("+-", "S") | dict.fromkeys("0123456789", "D") | {".": "."}
_GO_HINT |= dict.fromkeys("yYnNtTfFoO~", "M")
_GO_MAP: dict[str, tuple[str, object]] = {}
for _value, _tag, _words in (
    (True, "bool", "y Y yes Yes YES true True TRUE on On ON"),
    (False, "bool", "n N no No NO false False FALSE off Off OFF"),
    (None, "null", "~ null Null NULL"),
    (math.nan, "float", ".nan .NaN .NAN"),
    (math.inf, "float", ".inf .Inf .INF +.inf +.Inf +.INF"),
    (-math.inf, "float", "-.inf -.Inf -.INF"),
):
    _GO_MAP |= dict.fromkeys(_words.split(), (_tag, _value))
_GO_MAP[""] = ("null", None)

_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(_[0-9]+)*([eE][-+]?[0-9]+(_[0-9]+)*)?")  # Go's ParseFloat
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")  # v2's encoder
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_DATE, _TIME = r"(\d{4})-(\d{1,2})-(\d{1,2})", r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,]\d+)?"
_TIMESTAMPS = (  # the layouts v2 tries with time.Parse: date-time with zone, without, date
    re.compile(_DATE + "[Tt]" + _TIME + r"(?:Z|[-+](\d\d):(\d\d))"),
    re.compile(_DATE + " " + _TIME),
    re.compile(_DATE),
)


def _go_parse_uint(text: str, base: int) -> int | None:
    """strconv.ParseUint(text, base, 64); base 0 reads Go's prefixes (0b, 0o, 0x, 0 octal)."""
    if base == 0:
        base = 10
        if text[:1] == "0":
            prefix = text[1:2].lower()
            if len(text) >= 3 and prefix in ("b", "o", "x"):
                base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
            else:
                base, text = 8, text[1:]
                if not text:
                    return 0
    if not text or any(c not in _DIGITS[base] for c in text):
        return None
    value = int(text, base)
    return value if value < 1 << 64 else None


def _go_parse_int(text: str, base: int) -> int | None:
    """strconv.ParseInt(text, base, 64): an optional sign, then ParseUint, in int64's range."""
    negative = text[:1] == "-"
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits:
        return None
    value = _go_parse_uint(digits, base)
    if value is None or value > (1 << 63) - (not negative):
        return None
    return -value if negative else value


def _go_timestamp(text: str) -> bool:
    for layout in _TIMESTAMPS:
        match = layout.fullmatch(text)
        if match is None:
            continue
        year, month, day, *clock = (int(g) if g is not None else 0 for g in match.groups())
        hour, minute, second, zone_h, zone_m = (*clock, 0, 0, 0, 0, 0)[:5]
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            continue
        if hour < 24 and minute < 60 and second < 60 and zone_h <= 24 and zone_m <= 60:
            return True
    return False


def go_v2_resolve(text: str) -> tuple[str, object]:
    """(tag, value) go-yaml v2 gives a plain scalar; 'str' when it stays a string."""
    if text == "<<":
        return "merge", text  # the decoder's isMerge looks at the raw value
    hint = _GO_HINT.get(text[0]) if text else "N"
    if hint is None:
        return "str", text
    if text in _GO_MAP:
        return _GO_MAP[text]
    if _BASE60.fullmatch(text):
        return "float", text  # v2 reads it as a string, but quotes it because YAML 1.1 doesn't
    if hint == "." and _DOT_FLOAT.fullmatch(text):
        return "float", float(text.replace("_", ""))
    if hint in "DS":
        if _go_timestamp(text):
            return "timestamp", text
        plain = text.replace("_", "")
        number = _go_parse_int(plain, 0)
        if number is None and plain[:1] != "+" and plain[:1] != "-":
            number = _go_parse_uint(plain, 0)
        if number is not None:
            return "int", number
        if _YAML_STYLE_FLOAT.fullmatch(plain) and not math.isinf(float(plain)):
            return "float", float(plain)  # Go's ParseFloat fails (ErrRange) past float64
        if plain.startswith("0b"):
            number = _go_parse_int(plain[2:], 2)
        elif plain.startswith("-0b"):
            number = _go_parse_int("-" + plain[3:], 2)
        if number is not None:
            return "int", number
    return "str", text


# -- reading a stream ------------------------------------------------------------------------


def _construct(node: yaml.Node, reader: str) -> Any:
    if isinstance(node, yaml.ScalarNode):
        if node.style is not None or node.tag != STR:
            return node.value  # quoted, block or explicitly tagged: never resolved
        tag, value = go_v2_resolve(node.value)
        return node.value if tag == "str" else Resolved(reader, tag, node.value, value)
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, reader) for item in node.value]
    return {_construct(key, reader): _construct(value, reader) for key, value in node.value}


def go_v2_load_all(text: str) -> list:
    """The documents as go-yaml v2 reads them: a plain scalar it would not read as a string is
    `Resolved`, which compares (in `typed`) as the value go-yaml gives it, equal to no string."""
    return [_construct(node, "go-yaml v2") for node in yaml.compose_all(text, yaml.BaseLoader)]


def load_all(text: str) -> dict[str, list]:
    """Every document of `text`, by reader."""
    yaml12 = YAML(typ="safe", pure=True)
    return {
        "PyYAML (YAML 1.1)": list(yaml.safe_load_all(text)),
        "ruamel (YAML 1.2)": list(yaml12.load_all(text)),
        "go-yaml v2": go_v2_load_all(text),
    }


def typed(value: object) -> object:
    """`value` with every scalar as (type, value): so True is not 1, '1' is not 1, NaN is NaN."""
    if isinstance(value, dict):
        return {typed(k): typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, Resolved):
        textual = value.tag in ("timestamp", "merge")
        return (value.tag, value.text) if textual else typed(value.value)
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    kind = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}
    return (kind.get(type(value), type(value).__name__), value)


def assert_reads_back(text: str, documents: list) -> None:
    """Each reader reads exactly `documents`: strings stay these strings, numbers numbers."""
    meant = typed(documents)
    for reader, read in load_all(text).items():
        assert typed(read) == meant, f"{reader} reads {read!r}, not {documents!r}"


def yaml_string(text: str) -> str:
    """`text` as a YAML double-quoted scalar for a spec, every character but printable ASCII
    escaped, so that a spec can carry any text (line separators, control characters)."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'
