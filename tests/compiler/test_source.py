"""The YAML loader: YAML 1.2 scalars, the source map, and the problems it refuses."""

from __future__ import annotations

import math

import pytest

from mlspec.compiler.source import load_bytes, load_text
from mlspec.diagnostics import Span, SpecError


def _codes(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(SpecError) as caught:
        load_text(text, "s.yaml")
    return [(d.code, d.span.line, d.span.col) for d in caught.value.diagnostics]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),  # YAML 1.1 booleans are strings in 1.2
        ("on", "on"),
        ("no", "no"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("0755", 755),  # 1.2: no implicit octal
        ("0o17", 15),
        ("0x1F", 31),
        ("-12", -12),
        ("1.0", 1.0),
        ("1e3", 1000.0),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("1.0.0", "1.0.0"),
        ("2001-12-14", "2001-12-14"),  # no implicit timestamps
        ("'true'", "true"),
        ('"3"', "3"),
        ("1_000", "1_000"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    assert load_text(f"k: {text}\n", "s.yaml").data == {"k": value}


def test_a_colon_inside_a_flow_plain_scalar_is_text() -> None:
    """YAML 1.2 allows `:` not followed by a space in a flow plain scalar (libyaml 0.2.5)."""
    data = load_text("d: {image: ghcr.io/acme/x:1.0.0, python: demo.steps:train}\n", "s.yaml").data
    assert data == {"d": {"image": "ghcr.io/acme/x:1.0.0", "python": "demo.steps:train"}}


def test_a_multibyte_character_counts_as_one_column() -> None:
    source = load_text("k: 'ä€😀'\nj: [x, 1]\n", "s.yaml")
    assert str(source.span(("k",))) == "s.yaml:1:4"
    text = "a: 'ä€😀' \nj: {x: 1}\n"
    assert str(load_text(text, "s.yaml").span(("j", "x"))) == "s.yaml:2:8"


def test_nan_is_a_float() -> None:
    assert math.isnan(load_text("k: .nan\n", "s.yaml").data["k"])


def test_source_map_records_keys_and_values() -> None:
    source = load_text("a:\n  b: [x, {c: 1}]\n", "s.yaml")
    assert str(source.span(("a", "b", 1, "c"))) == "s.yaml:2:14"
    assert str(source.key_span(("a", "b"))) == "s.yaml:2:3"
    assert str(source.span(("a", "b", 0))) == "s.yaml:2:7"
    # A path that does not exist falls back to its nearest ancestor.
    assert str(source.span(("a", "b", 1, "missing"))) == "s.yaml:2:10"


def test_the_whole_document_is_its_first_key() -> None:
    """Diagnostics about the whole spec point there, not at line 1, which may be a comment."""
    source = load_text("# a comment\n\nkind: Pipeline\nsteps: {}\n", "s.yaml")
    assert source.document_span() == Span("s.yaml", 3, 1, 3, 5)
    assert source.span(()) == source.span(("nothing", "here")) == source.document_span()


def test_every_duplicate_and_non_string_key_is_reported() -> None:
    text = "a: 1\nb: 2\na: 3\n1: x\ntrue: y\nb: 4\n"
    assert _codes(text) == [
        ("MS002", 3, 1),
        ("MS003", 4, 1),
        ("MS003", 5, 1),
        ("MS002", 6, 1),
    ]


def test_quoted_numeric_key_is_a_string() -> None:
    assert load_text('"1": x\n', "s.yaml").data == {"1": "x"}


def test_document_shape_problems() -> None:
    assert _codes("") == [("MS008", 1, 1)]
    assert _codes("# only a comment\n") == [("MS008", 1, 1)]
    assert _codes("a: 1\n---\nb: 2\n") == [("MS004", 3, 1)]
    assert _codes("- a\n- b\n") == [("MS005", 1, 1)]
    assert _codes("a: !!python/object:os.system x\n") == [("MS009", 1, 4)]
    assert _codes("a: [1, 2\n")[0][0] == "MS001"
    assert _codes("a:\n\tb: 1\n")[0][0] == "MS001"


def test_alias_bomb_is_stopped_in_bounded_time() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    codes = _codes("\n".join(lines) + "\n")
    assert [c[0] for c in codes] == ["MS006"]


def test_recursive_alias_is_stopped() -> None:
    assert [c[0] for c in _codes("a: &x [*x]\n")] in (["MS006"], ["MS001"])


def test_deep_nesting_is_stopped() -> None:
    assert [c[0] for c in _codes("a: " + "[" * 200 + "]" * 200 + "\n")] == ["MS006"]


def test_bytes_are_checked_before_parsing() -> None:
    with pytest.raises(SpecError) as caught:
        load_bytes(b"a: 1\nb: \xff\n", "s.yaml")
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("MS007", 2, 4)
    assert load_bytes("\ufeffa: é\n".encode(), "s.yaml").data == {"a": "é"}
