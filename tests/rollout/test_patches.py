"""The overlays' JSON patches, applied by python-json-patch (RFC 6902), give the environment's
document exactly: any two documents, any keys (a '/' or '~' in a label key), any list lengths.
kustomize applies the real overlays in test_gitops_environments.py."""

from __future__ import annotations

import jsonpatch
from hypothesis import given, settings
from hypothesis import strategies as st
from support.yaml_readers import typed

from mlspec.backends.rollout.patches import diff, pointer

KEYS = st.sampled_from(["a", "b", "app.kubernetes.io/name", "~x", "", "0", "-"])
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from([0, 1])
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DOCS, max_size=4), st.dictionaries(KEYS, DOCS, max_size=4))
def test_the_patch_turns_one_document_into_the_other(old: dict, new: dict) -> None:
    patched = jsonpatch.apply_patch(old, diff(old, new))
    assert typed(patched) == typed(new)  # True is not 1, '1' is not 1
    assert diff(new, new) == []


def test_only_what_differs_is_patched() -> None:
    old = {"spec": {"replicas": 3, "env": [{"name": "A"}], "labels": {"k/v": "x"}}}
    new = {"spec": {"replicas": 6, "env": [{"name": "A"}, {"name": "B"}], "labels": {}}}
    assert diff(old, new) == [
        {"op": "replace", "path": "/spec/replicas", "value": 6},
        {"op": "add", "path": "/spec/env/-", "value": {"name": "B"}},
        {"op": "remove", "path": "/spec/labels/k~1v"},
    ]
    assert pointer("a~/b") == "a~0~1b"
