"""The Argo Rollouts rule checker catches each rule broken on purpose, so that its silence on
the real output (test_manifests.py) means something."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.argo_rules import argo_rules

from mlspec.backends.rollout.backend import artifacts
from mlspec.compiler import analyze_file

MATRIX = Path(__file__).parent / "matrix"
Docs = list[dict[str, Any]]


def _docs(name: str) -> Docs:
    files = artifacts(analyze_file(MATRIX / name).pipeline)
    return [yaml.safe_load(a.text) for a in files if "/" not in a.path and a.path.endswith("ml")]


def _rollout(docs: Docs) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Rollout")


def _canary(docs: Docs) -> dict[str, Any]:
    return _rollout(docs)["spec"]["strategy"]["canary"]


def _two_actions(docs: Docs) -> None:
    _canary(docs)["steps"][0]["pause"] = {"duration": "1m"}


def _weight_above_100(docs: Docs) -> None:
    _canary(docs)["steps"][0] = {"setWeight": 150}


def _zero_pause(docs: Docs) -> None:
    _canary(docs)["steps"][1] = {"pause": {"duration": "0s"}}


def _unmanaged_header_route(docs: Docs) -> None:
    _canary(docs)["trafficRouting"]["managedRoutes"] = [{"name": "other"}]


def _two_string_matches(docs: Docs) -> None:
    step = next(s for s in _canary(docs)["steps"] if "setHeaderRoute" in s)
    step["setHeaderRoute"]["match"][0]["headerValue"]["exact"] = "x"


def _stable_is_canary(docs: Docs) -> None:
    _canary(docs)["canaryService"] = _canary(docs)["stableService"]


def _active_is_preview(docs: Docs) -> None:
    bg = _rollout(docs)["spec"]["strategy"]["blueGreen"]
    bg["previewService"] = bg["activeService"]


def _missing_template(docs: Docs) -> None:
    docs[:] = [d for d in docs if d["kind"] != "AnalysisTemplate"]


def _weights_not_100(docs: Docs) -> None:
    vs = next(d for d in docs if d["kind"] == "VirtualService")
    vs["spec"]["http"][0]["route"][0]["weight"] = 90


@pytest.mark.parametrize(
    ("spec", "break_it", "expected"),
    [
        ("argo-rollouts--canary.yaml", _two_actions, "exactly one action per step"),
        ("argo-rollouts--canary.yaml", _weight_above_100, "not within 0..100"),
        ("argo-rollouts--canary.yaml", _zero_pause, "is not above 0"),
        ("argo-rollouts--canary.yaml", _stable_is_canary, "stableService and canaryService"),
        ("argo-rollouts--canary.yaml", _missing_template, "is not emitted"),
        ("argo-rollouts--canary.yaml", _weights_not_100, "do not add up to 100"),
        ("argo-rollouts--ab_test-header.yaml", _unmanaged_header_route, "not in managedRoutes"),
        ("argo-rollouts--ab_test-header.yaml", _two_string_matches, "exactly one of exact"),
        ("argo-rollouts--blue_green.yaml", _active_is_preview, "activeService and previewService"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_each_broken_rule_is_reported(
    spec: str, break_it: Callable[[Docs], None], expected: str
) -> None:
    docs = _docs(spec)
    assert argo_rules(docs) == []
    broken = copy.deepcopy(docs)
    break_it(broken)
    found = argo_rules(broken)
    assert any(expected in problem for problem in found), found
