"""The manifest YAML: whatever a spec string holds, Kubernetes reads back exactly that string.

Kubernetes parses YAML 1.1 (go-yaml), where `on`, `yes`, `1:30` or `0755` are not strings;
PyYAML's safe loader resolves scalars the same way, so a round trip through it is the check.
"""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.backends.rollout.k8s import duration, to_yaml

# Text Kubernetes could receive from a spec: any printable text, including YAML's indicators.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40) | st.sampled_from(
    ["on", "yes", "No", "~", "null", "1:30", "0755", "1e3", ".inf", "- x", "a: b", "#x", "'", '"']
)
DOCS = st.recursive(
    TEXT | st.integers() | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, DOCS, min_size=1, max_size=4))
def test_round_trip_through_a_yaml_1_1_reader(doc: dict) -> None:
    assert yaml.safe_load(to_yaml(doc)) == doc


def test_multi_line_text_is_a_literal_block() -> None:
    text = to_yaml({"query": "sum(rate(x[5m]))\n/ sum(rate(y[5m]))"})
    assert text == "query: |-\n  sum(rate(x[5m]))\n  / sum(rate(y[5m]))\n"


def test_key_order_is_kept() -> None:
    assert to_yaml({"kind": "A", "apiVersion": "v1"}).splitlines() == ["kind: A", "apiVersion: v1"]


def test_duration_uses_the_largest_whole_unit() -> None:
    assert [duration(s) for s in (30, 90, 600, 3600, 5400, 86400)] == [
        "30s", "90s", "10m", "1h", "90m", "24h"
    ]  # fmt: skip
