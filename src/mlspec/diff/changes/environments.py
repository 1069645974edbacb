"""Changes to the environments (`environments:`): where the one reviewed pipeline runs.

An environment is compared as written (every field of it, so nothing in it changes unreported)
and rated by its effect: the value it ends up with in the bound spec (compiler/environments.bind:
the environment's own, else the spec's), and for gates the bounds of the bound pipeline, so a
stricter bound dropped is a gate loosened there even though the spec's gate did not move.

Production is what the rest of the chain promotes into: an environment named `prod` or
`production`, or one that promotes from another environment while none promotes from it (the
end of dev -> staging -> prod). Pointing it at another registry, artifact root, namespace or
image registry is risky there and a review elsewhere; so is a spec-level change it inherits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlspec.compiler import spec as s
from mlspec.compiler.environments import bind
from mlspec.diff.changes.gates import compare_gates
from mlspec.diff.model import Bump, Change, Risk, show

if TYPE_CHECKING:
    from mlspec.compiler import Analysis

PRODUCTION_NAMES = frozenset({"prod", "production"})
# Where an environment reads, writes and serves: another one in production is risky.
WHERE = frozenset({"registry", "artifact_root", "namespace", "images"})
# Fields whose absence is not the spec's value but nothing (no mirror, no server, no source).
NO_FALLBACK = frozenset({"images", "deploy", "promote_from"})
# How many keys of a field's path make one change: a secret, a gate, a server as a whole.
UNITS = {
    "registry": 2,
    "artifact_root": 1,
    "namespace": 1,
    "images": 1,
    "serving": 2,
    "prometheus": 1,
    "schedule": 2,
    "secrets": 2,
    "deploy": 2,
    "gates": 2,
    "promote_from": 1,
}
# The value a field ends up with in the bound spec (None: the spec does not use it).
EFFECTIVE: dict[tuple[str, ...], Callable[[s.Spec], Any]] = {
    ("registry", "tracking_uri"): lambda b: b.registry and b.registry.mlflow.tracking_uri,
    ("registry", "registered_model"): lambda b: b.registry and b.registry.mlflow.registered_model,
    ("artifact_root",): lambda b: b.artifact_root,
    ("namespace",): lambda b: b.rollout and b.rollout.service.namespace,
    ("serving", "replicas"): lambda b: b.rollout and b.rollout.service.replicas,
    ("serving", "resources"): lambda b: b.rollout and _dumped(b.rollout.service.resources),
    ("prometheus",): lambda b: b.rollout and b.rollout.prometheus,
    ("schedule", "paused"): lambda b: b.schedule and b.schedule.paused,
}


def production(spec: s.Spec) -> frozenset[str]:
    """The spec's production environments (see the module's docstring)."""
    sources = {env.promote_from for env in spec.environments.values()}
    return frozenset(
        name
        for name, env in spec.environments.items()
        if name in PRODUCTION_NAMES or (env.promote_from is not None and name not in sources)
    )


def compare_environments(old: Analysis, new: Analysis) -> Iterator[Change]:
    """Environments removed (risky), added, and every difference within one, in spec order."""
    before, after = old.spec.environments, new.spec.environments
    prod = production(old.spec) | production(new.spec)
    for name in before:
        if name not in after:
            yield Change(
                f"environment {name}",
                "removed",
                "risky",
                "nothing is compiled or promoted for it any more: what runs there is orphaned",
                "pipeline",
            )
    for name in after:
        if name not in before:
            yield Change(
                f"environment {name}",
                "added" + (" (production)" if name in prod else ""),
                "review",
                "the pipeline runs in one more place: read its bindings",
                "pipeline",
            )
    for name in after:
        if name in before:
            yield from _Environment(old, new, name, name in prod).changes()


def _dumped(model: s.Model | None) -> Any:
    """As written, defaults left out: an unset field is the spec's."""
    return None if model is None else model.model_dump(by_alias=True, exclude_defaults=True)


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every set leaf; an empty section ({}) binds nothing, as if it were left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    else:
        yield path, value


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return show(value)


class _Environment:
    """One environment on both sides."""

    def __init__(self, old: Analysis, new: Analysis, name: str, production: bool) -> None:
        self.old, self.new, self.name, self.production = old, new, name, production
        self.subject = f"environment {name}"
        self.raw = tuple(_dumped(a.spec.environments[name]) for a in (old, new))
        self.bound = tuple(bind(a.spec, name) for a in (old, new))

    def changes(self) -> Iterator[Change]:
        """One change per unit (UNITS) that differs as written, then for production what it
        inherits."""
        units: dict[tuple[str, ...], None] = {}
        for raw in self.raw:
            for path, _ in _leaves(raw):
                units[path[: UNITS.get(path[0], len(path))]] = None
        for unit in units:
            a, b = (_at(raw, unit) for raw in self.raw)
            if a != b:
                yield from self._unit(unit, a, b)
        if self.production:
            yield from self._inherited(units)

    def _change(
        self, summary: str, risk: Risk, reason: str, bump: Bump | None = "pipeline"
    ) -> Change:
        return Change(self.subject, summary, risk, reason, bump)

    def _unit(self, unit: tuple[str, ...], a: Any, b: Any) -> Iterator[Change]:
        field = ".".join(unit)
        if unit[0] == "gates":
            yield from self._gate(unit[1], a, b)
            return
        effective = EFFECTIVE.get(unit)
        if effective is None:
            shown = (_shown(a), _shown(b)) if unit[0] in NO_FALLBACK else map(self._raw, (a, b))
            summary = "{} {} -> {}".format(field, *shown)
            yield self._change(summary, *self._rated(unit, a, b))
            return
        x, y = (effective(bound) for bound in self.bound)
        summary = f"{field} {self._set(a, x)} -> {self._set(b, y)}"
        if x == y:
            yield self._change(summary, "safe", "the same value in effect", None)
        else:
            yield self._change(summary, *self._rated(unit, x, y))

    def _raw(self, value: Any) -> str:
        return "the spec's" if value is None else _shown(value)

    def _set(self, raw: Any, effective: Any) -> str:
        """A value as set here, or the spec's it falls back to."""
        if raw is not None:
            return _shown(raw)
        return "unset" if effective is None else f"the spec's ({_shown(effective)})"

    def _rated(self, unit: tuple[str, ...], a: Any, b: Any) -> tuple[Risk, str]:
        """The risk of a field's effective value going from a to b, and why."""
        field = unit[0]
        if field in WHERE:
            what = {
                "registry": "reads and promotes models in another registry",
                "artifact_root": "reads and writes artifacts elsewhere",
                "namespace": "serves from another namespace",
                "images": "pulls its images from another registry",
            }[field]
            if self.production:
                return "risky", f"production {what}"
            return "review", f"{self.name} {what}"
        if field == "promote_from":
            if a is None:
                return "review", f"{self.name} now serves only versions proven in {b}"
            if b is None:
                return "risky", f"{self.name} no longer requires a version proven in {a} first"
            return "risky", f"{self.name} now serves versions proven in {b}, not {a}"
        if field == "serving":
            return "review", f"the serving deployment in {self.name} is sized differently"
        if field == "schedule":
            return "review", (
                f"the schedule is paused in {self.name}"
                if b
                else f"the schedule now starts runs in {self.name}"
            )
        if field == "secrets":
            return "review", f"steps in {self.name} read another Kubernetes secret"
        if field == "deploy":
            return "review", f"`mlspec deploy --env {self.name}` talks to another server"
        if field == "prometheus":
            return "review", f"analyses and rewards in {self.name} read another Prometheus"
        return "review", "no rule rates this field: read what it changes"

    def _inherited(self, units: dict[tuple[str, ...], None]) -> Iterator[Change]:
        """A spec-level change a production environment takes on without setting it."""
        for unit, effective in EFFECTIVE.items():
            if unit[0] not in WHERE or unit in units:
                continue
            x, y = (effective(bound) for bound in self.bound)
            if x != y:
                summary = f"{'.'.join(unit)} {_shown(x)} -> {_shown(y)} (the spec's)"
                yield self._change(summary, *self._rated(unit, x, y))

    @cached_property
    def _gate_changes(self) -> tuple[set[tuple[str, str]], list[Change]]:
        """The spec's gate changes, and the gate changes of the pipelines bound here."""
        base = compare_gates(self.old.pipeline, self.new.pipeline)
        old, new = (a.for_environment(self.name).pipeline for a in (self.old, self.new))
        return {(c.subject, c.summary) for c in base}, list(compare_gates(old, new))

    def _gate(self, gate: str, a: Any, b: Any) -> Iterator[Change]:
        """A gate's stricter bounds here, rated by the bounds in effect (loosened: risky); what
        the spec's own gate change says is not repeated."""
        base, bound = self._gate_changes
        said = [
            dataclasses.replace(c, subject=self.subject, summary=f"gate {gate}: {c.summary}")
            for c in bound
            if c.subject == f"gate {gate}" and (c.subject, c.summary) not in base
        ]
        yield from said
        if not said:
            summary = f"gate {gate} {_shown(a)} -> {_shown(b)}"
            yield self._change(summary, "safe", "the same bounds in effect", None)
