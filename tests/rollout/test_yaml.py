"""The manifest YAML: whatever a spec string holds, every YAML reader reads back exactly that.

Kubernetes tools read YAML with go-yaml v2 (kubectl, Argo CD: `y` and `n` are booleans), others
with YAML 1.2 readers (`1e3` is a float); PyYAML resolves as neither. Each file is read with all
three (tests/support/yaml_readers.py) and must give the documents the back end built.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support.yaml_readers import assert_reads_back, load_all, yaml_string

from mlspec.backends.rollout.backend import artifacts, controller
from mlspec.backends.rollout.k8s import duration, file_name, to_yaml
from mlspec.backends.rollout.release import Release
from mlspec.compiler import analyze_text
from mlspec.compiler.passes import pin_model
from mlspec.diagnostics import SpecError

MATRIX = Path(__file__).resolve().parent / "matrix"
HEADER_SPECS = {
    name: (MATRIX / f"{name}--ab_test-header.yaml").read_text()
    for name in ("istio", "argo-rollouts", "flagger")
}
WORDS = ["y", "Y", "n", "N", "yes", "on", "No", "~", "null", "1:30", "0755", "1e3", "0o17"]
WORDS += ["2001-2-3", "1_000", ".inf", "<<", "=", "- x", "a: b", "#x", "'", '"', ""]
SEPARATORS = ["\n", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x00", "\t", "\ufeff"]
# Text Kubernetes could receive from a spec: any text, including YAML's indicators, words and
# numbers some reader resolves, and line separators.
TEXT = (
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    | st.sampled_from(WORDS + SEPARATORS)
    | st.builds("".join, st.lists(st.sampled_from(["a", " ", "1", ":", "-", *SEPARATORS])))
)
DOCS = st.recursive(
    TEXT | st.integers(-(2**63), 2**63 - 1) | st.booleans(),  # go-yaml's int64
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, DOCS, min_size=1, max_size=4))
def test_round_trip_through_every_reader(doc: dict) -> None:
    assert_reads_back(to_yaml(doc), [doc])


def header_manifests(controller_name: str, name: str, text: str) -> dict[str, tuple]:
    """{file: (text, the document the back end meant)} of an A/B test on header `name`
    matching `text` exactly."""
    spec = HEADER_SPECS[controller_name].replace("X-User-Group", name)
    spec = re.sub(r'regex: "[^"]*"', lambda _: f"exact: {yaml_string(text)}", spec)
    pipeline = pin_model(analyze_text(spec, "spec.yaml").pipeline, "7", "s3://models/fraud/7")
    files = {a.path: a.text for a in artifacts(pipeline)}
    assert pipeline.rollout is not None
    docs = controller(pipeline.rollout).manifests(Release(pipeline, pipeline.rollout)).resources
    return {file_name(doc): (files[file_name(doc)], doc) for doc in docs}


@pytest.mark.parametrize("controller_name", sorted(HEADER_SPECS))
@pytest.mark.parametrize("value", ["y", "Y", "n", "N", "1e3", "0o17", "on", "2001-2-3"])
def test_a_header_match_value_stays_a_string(controller_name: str, value: str) -> None:
    """#16: `exact: "y"` was written `exact: y`, which kubectl and Argo CD read as true."""
    manifests = header_manifests(controller_name, "X-User-Group", value)
    matched = [path for path, (text, _) in manifests.items() if "exact:" in text]
    assert matched
    for text, doc in manifests.values():
        assert_reads_back(text, [doc])


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(HEADER_SPECS)),
    st.sampled_from(["on", "y", "N", "yes", "1", "1e3", "0x1F", "X-User-Group"]),
    TEXT,
)
def test_any_header_match_reads_back_in_every_manifest(
    controller_name: str, name: str, value: str
) -> None:
    """The header's name becomes a key in Flagger's match, its value a string everywhere."""
    try:
        manifests = header_manifests(controller_name, name, value)
    except SpecError:
        assume(False)  # refused by the spec's own checks: nothing is written
    for text, doc in manifests.values():
        assert_reads_back(text, [doc])


def test_keys_a_reader_would_resolve_stay_strings() -> None:
    doc = {"on": 1, "yes": 2, "y": 3, "1:30": 4, "0o17": 5, "~": 6, "<<": 7}
    text = to_yaml(doc)
    assert_reads_back(text, [doc])
    assert all(isinstance(k, str) for docs in load_all(text).values() for k in docs[0])


def test_multi_line_text_is_a_literal_block() -> None:
    text = to_yaml({"query": "sum(rate(x[5m]))\n/ sum(rate(y[5m]))"})
    assert text == "query: |-\n  sum(rate(x[5m]))\n  / sum(rate(y[5m]))\n"


def test_key_order_is_kept() -> None:
    assert to_yaml({"kind": "A", "apiVersion": "v1"}).splitlines() == ["kind: A", "apiVersion: v1"]


def test_duration_uses_the_largest_whole_unit() -> None:
    assert [duration(s) for s in (30, 90, 600, 3600, 5400, 86400)] == [
        "30s", "90s", "10m", "1h", "90m", "24h"
    ]  # fmt: skip
