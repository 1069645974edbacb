"""mlspec's YAML emitter: whatever text a value or key holds, every reader reads back that text.

The readers (tests/support/yaml_readers.py) are PyYAML (YAML 1.1), ruamel.yaml (YAML 1.2) and a port
of go-yaml v2's resolver, each at least as eager as the consumers of mlspec's files.
"""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from support.yaml_readers import assert_reads_back, go_v2_load_all, go_v2_resolve, typed

from mlspec.backends import yamlout

LAYOUTS = {"kubernetes": yamlout.KUBERNETES, "prefect": yamlout.PREFECT, "kfp": yamlout.KFP}

# Plain scalars some reader takes for something else than the string (the issues' examples).
RESOLVED = [
    *("y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON"),
    *("off", "Off", "OFF", "true", "True", "TRUE", "false", "FALSE", "~", "null", "Null", ""),
    *("1:30", "12:30:00", "190:20:30.15", "0:30", "0o17", "017", "0x1F", "0X1f", "0b101"),
    *("1e3", "1E-3", "1_000", "+685_230", "08", "-.5", ".5", "1.", "0b-101", "9" * 20),
    *("2001-12-14", "2001-2-3", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10"),
    *("2001-12-14 21:59:43.10 -5", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "<<", "=", "0"),
]
# Text that stays plain: quoting it would only make the files noisier.
PLAIN = ["10m", "7d", "python:3.11-slim", "0.0.1", "1.0.0", "fraud-scorer", "500m", "1Gi", "x y"]
SEPARATORS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\t", "\x00", "\x1b"]
SEPARATORS += ["\x7f", "\ufeff", "\xa0"]

NUMBERISH = st.text(st.sampled_from("0123456789+-._:eExXoObB tT"), min_size=1, max_size=12)
TEXT = (
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
    | NUMBERISH
    | st.sampled_from(RESOLVED + PLAIN + SEPARATORS)
    | st.builds("".join, st.lists(st.sampled_from(["a", " ", ":", "#", "-", *SEPARATORS])))
    # long enough for the KFP layout to fold lines (80 columns)
    | st.text(st.sampled_from("ab :#-'\"\\\n\t\u2028\x85é"), min_size=60, max_size=200)
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(LAYOUTS)), st.dictionaries(TEXT, TEXT | st.lists(TEXT), max_size=4))
def test_any_text_reads_back_under_every_reader(layout: str, doc: dict) -> None:
    doc |= {"int": 7, "float": 0.25, "bool": True, "none": None, "nan": math.nan}
    assert_reads_back(yamlout.dump(doc, layout=LAYOUTS[layout]), [doc])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("text", RESOLVED)
def test_text_a_reader_would_resolve_is_quoted_as_value_and_key(layout: str, text: str) -> None:
    doc = {"value": text, text: "key", "list": [text]}
    out = yamlout.dump(doc, layout=LAYOUTS[layout])
    assert f"value: {text}\n" not in out
    assert_reads_back(out, [doc])


@pytest.mark.parametrize("text", PLAIN)
def test_text_every_reader_reads_as_itself_stays_plain(text: str) -> None:
    assert yamlout.dump({"v": text}) == f"v: {text}\n"


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_line_separators_and_control_characters(layout: str, separator: str) -> None:
    for text in (f"a{separator}b", separator, f"week{separator}injected: {{evil: true}}"):
        out = yamlout.dump({"v": text}, layout=LAYOUTS[layout])
        assert_reads_back(out, [{"v": text}])


def test_two_documents_are_one_stream() -> None:
    out = yamlout.dump({"a": "y"}, {"b": "no"}, layout=yamlout.KFP)
    assert out == "a: 'y'\n---\nb: 'no'\n"
    assert_reads_back(out, [{"a": "y"}, {"b": "no"}])


def test_layouts() -> None:
    doc = {"k": ["a", "b"], "c": "é", "t": "x\ny"}
    assert yamlout.dump(doc) == "k:\n  - a\n  - b\nc: é\nt: |-\n  x\n  y\n"
    assert yamlout.dump(doc, layout=yamlout.PREFECT) == "k:\n- a\n- b\nc: é\nt: 'x\n\n  y'\n"
    assert yamlout.dump(doc, layout=yamlout.KFP) == "c: \"\\xE9\"\nk:\n- a\n- b\nt: 'x\n\n  y'\n"


# -- the go-yaml v2 port, against go-yaml v2's own decode tests (decode_test.go) ---------------

GO_DECODE_TESTS = {
    "v: hi": "hi",
    "v: 10": 10,
    "v: 0b10": 2,
    "v: 0xA": 10,
    "v: 4294967296": 4294967296,
    "v: .1": 0.1,
    "v: .Inf": math.inf,
    "v: -.Inf": -math.inf,
    "v: -.1": -0.1,
    "v: 6.8523e+5": 6.8523e5,
    "v: 685.230_15e+03": 685.23015e03,
    "v: 685_230.15": 685230.15,
    "v: y": True,
    "v: NO": False,
    "v: True": True,
    "v: on": True,
    "v: +685_230": 685230,
    "v: 02472256": 685230,
    "v: 0x_0A_74_AE": 685230,
    "v: 0b1010_0111_0100_1010_1110": 685230,
    "v: -0b101010": -42,
    "v: -0b1000000000000000000000000000000000000000000000000000000000000000": -(2**63),
    "v: 18446744073709551615": 2**64 - 1,
    "v: 18446744073709551616": 18446744073709551616.0,
    "v: ~": None,
    "v: null": None,
    "v:": None,
    "v: '1'": "1",
    'v: "2015-01-01"': "2015-01-01",
}
GO_TIMESTAMPS = [
    "2015-01-01",
    "2015-02-24T18:19:39.12Z",
    "2015-2-3T3:4:5Z",
    "2015-02-24t18:19:39Z",
    "2015-02-24 18:19:39",
    "2015-02-24T18:19:39.123456789-03:00",
]
GO_STRINGS = ["2001-12-14 21:59:43.10 -5", "2015-02-30", "2015-13-01", "1e400", "._5", "0x", "-"]


@pytest.mark.parametrize("text", sorted(GO_DECODE_TESTS))
def test_go_yaml_v2_port_reads_as_go_yaml_v2(text: str) -> None:
    assert typed(go_v2_load_all(text)) == typed([{"v": GO_DECODE_TESTS[text]}])


@pytest.mark.parametrize("text", GO_TIMESTAMPS)
def test_go_yaml_v2_port_finds_timestamps(text: str) -> None:
    assert go_v2_resolve(text)[0] == "timestamp"


@pytest.mark.parametrize("text", GO_STRINGS)
def test_go_yaml_v2_port_leaves_strings(text: str) -> None:
    assert go_v2_resolve(text) == ("str", text)


def test_pyyaml_alone_misses_what_go_yaml_v2_reads() -> None:
    """The reason for the third reader: PyYAML's resolver leaves these plain."""
    for text in ("y", "N", "0o17", "0b-101", "2001-2-3", "08"):
        assert yaml.safe_load(yaml.safe_dump({"v": text})) == {"v": text}
        assert go_v2_resolve(yaml.safe_dump(text).split("\n")[0])[0] != "str"
