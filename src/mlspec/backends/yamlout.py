"""The one YAML emitter of every YAML file mlspec writes: rollout manifests, prefect.yaml, KFP IR.

Each file is read by tools that resolve plain (unquoted) scalars differently:
- YAML 1.1, PyYAML: Prefect reads prefect.yaml and kfp the IR with it (`no`, `on`, `1:30`);
- YAML 1.2, ruamel.yaml and many Go and JavaScript tools (`1e3` is a float, `0o17` an int);
- go-yaml v2: kubectl, Argo CD, the Kubeflow API server (`y` and `n` are booleans; Go's number
  syntax: `0X1F`, `0b101`, `_` anywhere in a number, `08` a float; one-digit months in dates).
A string is written plain only when every one of them reads it back as that same string;
otherwise it is quoted. A string holding NEL, LS or PS (line breaks to YAML 1.1 readers, text to
YAML 1.2 ones) is written double-quoted, where these are escapes (`\\N`, `\\L`, `\\P`); so are
control characters, which no reader accepts raw. Keys are scalars too: `on:` comes out `'on':`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import yaml
from ruamel.yaml.nodes import ScalarNode as Yaml12Node
from ruamel.yaml.resolver import VersionedResolver

STR = "tag:yaml.org,2002:str"
_QUOTE = "tag:mlspec,quote"  # "some reader would not read this plain scalar as a string"


@dataclass(frozen=True)
class Layout:
    """How a file looks; what it means is the same in every layout."""

    indent_sequences: bool = True  # `- x` indented under its key, as kubectl writes
    sort_keys: bool = False
    width: int = 1 << 16  # one line per value: long text stays greppable and diffs by line
    ascii: bool = False  # non-ASCII text as escapes
    literal_blocks: bool = True  # multi-line text as `|` blocks


KUBERNETES = Layout()
PREFECT = Layout(indent_sequences=False, literal_blocks=False)
KFP = Layout(indent_sequences=False, sort_keys=True, width=80, ascii=True, literal_blocks=False)
"""kfp's own writer's layout (PyYAML's defaults, keys sorted), so an IR reads like kfp's."""

# Line breaks to YAML 1.1 readers (and go-yaml), ordinary text to YAML 1.2 ones.
_AMBIGUOUS_BREAKS = re.compile("[\x85\u2028\u2029]")

# go-yaml v2's resolve.go: these words, and text starting with a sign, digit or '.' that Go
# parses as a number once `_` is dropped; its encoder also quotes base-60 numbers (`0:30`).
_GO_WORDS = frozenset(
    (
        *("y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"),
        *("true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"),
        *("", "~", "null", "Null", "NULL", "<<"),
        *(f"{sign}.{word}" for sign in ("", "+", "-") for word in ("inf", "Inf", "INF")),
        *(".nan", ".NaN", ".NAN"),
    )
)
_GO_NUMBER = re.compile(
    r"""[-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+)  # ParseInt with base 0
      | [-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?  # also 017 and 08
      | -?0b[-+]?[01]+  # the binary fallback""",
    re.X,
)
_GO_DATE_OR_BASE60 = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
)
_YAML12 = VersionedResolver(version=(1, 2))


def _go_yaml_v2_string(text: str) -> bool:
    if text in _GO_WORDS:
        return False
    if text[0] not in "+-.0123456789":
        return True
    return not (_GO_NUMBER.fullmatch(text.replace("_", "")) or _GO_DATE_OR_BASE60.fullmatch(text))


@lru_cache(maxsize=1 << 14)  # an IR repeats its keys thousands of times
def plain_is_safe(text: str) -> bool:
    """Whether YAML 1.2 readers and go-yaml v2 read `text` unquoted as this string (YAML 1.1
    is the dumper's own resolver)."""
    tag = _YAML12.resolve(Yaml12Node, text, (True, False))
    return str(tag) == STR and _go_yaml_v2_string(text)


class _Dumper(yaml.SafeDumper):
    layout = Layout()

    def ignore_aliases(self, data: object) -> bool:
        return True  # a dict used twice is written twice, never as an anchor and alias

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, indentless and not self.layout.indent_sequences)

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        # The serializer asks what a scalar would read back as, unquoted and quoted; a plain
        # scalar is written only if that is its own tag.
        # types-PyYAML leaves Resolver.resolve unannotated.
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if kind is yaml.ScalarNode and implicit[0] and tag == STR and not plain_is_safe(value):
            return _QUOTE
        return tag


def _str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    style = None
    if _AMBIGUOUS_BREAKS.search(value):
        style = '"'
    elif dumper.layout.literal_blocks and "\n" in value:
        style = "|"  # the emitter falls back to quotes where a block cannot hold the text
    return dumper.represent_scalar(STR, value, style=style)


_Dumper.add_representer(str, _str)


@cache
def _dumper(layout: Layout) -> type[_Dumper]:
    return type("Dumper", (_Dumper,), {"layout": layout})


def dump(*documents: object, layout: Layout = KUBERNETES) -> str:
    """The documents as one YAML stream (`---` between them)."""
    return yaml.dump_all(
        documents,
        Dumper=_dumper(layout),
        sort_keys=layout.sort_keys,
        default_flow_style=False,
        allow_unicode=not layout.ascii,
        width=layout.width,
    )
