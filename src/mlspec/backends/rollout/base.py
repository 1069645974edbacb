"""What a rollout controller provides, and which strategies each one can express.

`SUPPORT` is the strategy x controller matrix in one place: a spec that asks a controller for a
strategy it lacks gets a diagnostic naming the controllers that have it. Finer limits (a KServe
canary holds one percentage, Flagger has one interval) are each controller's `problems`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from mlspec.backends.rollout.k8s import Doc
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Span

NOT_EXPRESSIBLE = "MS301"
CHANGED_ON_TARGET = "MS302"

CONTROLLERS = ("argo-rollouts", "flagger", "kserve", "istio")

SUPPORT: dict[str, frozenset[str]] = {
    "argo-rollouts": frozenset(
        {"canary", "blue_green", "shadow", "ab_test/weight", "ab_test/header", "ab_test/cookie"}
    ),
    "flagger": frozenset({"canary", "blue_green", "shadow", "ab_test/header", "ab_test/cookie"}),
    "kserve": frozenset({"canary", "blue_green"}),
    # Bandits: mlspec's own bandit controller steering a VirtualService (see bandit.py).
    "istio": frozenset(
        {"shadow", "ab_test/weight", "ab_test/header", "ab_test/cookie"}
        | {"bandit", "contextual_bandit"}
    ),
}

_DESCRIBED = {
    "canary": "a canary",
    "blue_green": "blue/green",
    "shadow": "shadow (mirrored) traffic",
    "ab_test/weight": "an A/B test by weight",
    "ab_test/header": "an A/B test by header",
    "ab_test/cookie": "an A/B test by cookie",
    "bandit": "a bandit",
    "contextual_bandit": "a contextual bandit",
}


def variant(rollout: ir.Rollout) -> str:
    """The strategy as the matrix names it: A/B tests split by how they pick the candidate."""
    strategy = rollout.strategy
    if isinstance(strategy, ir.AbTest):
        how = "weight" if strategy.weight is not None else "header" if strategy.header else "cookie"
        return f"ab_test/{how}"
    return rollout.strategy_kind


def described(kind: str) -> str:
    return _DESCRIBED[kind]


def controllers_for(kind: str) -> list[str]:
    return [name for name in CONTROLLERS if kind in SUPPORT[name]]


@dataclass
class Manifests:
    """A controller's output: the objects to apply, and the Argo CD `ignoreDifferences` entries
    for fields the controller changes at run time."""

    resources: list[Doc] = field(default_factory=list)
    ignore_differences: list[Doc] = field(default_factory=list)


class Controller(Protocol):
    def problems(self, release: Release) -> list[Diagnostic]:
        """What this controller cannot do with a strategy it supports in general."""
        ...

    def manifests(self, release: Release) -> Manifests: ...


def error(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(span, NOT_EXPRESSIBLE, message, hint)


def warning(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(span, CHANGED_ON_TARGET, message, hint, severity="warning")


def ignore(api_group: str, kind: str, name: str, namespace: str, **paths: list[str]) -> Doc:
    """An Argo CD Application `spec.ignoreDifferences` entry for one object."""
    entry: Doc = {"group": api_group, "kind": kind, "name": name, "namespace": namespace}
    entry.update(paths)
    return entry
