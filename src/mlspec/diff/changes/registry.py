"""Changes to the registry: the registered model, what is registered, and promotion rules."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Change, at, keyed, show


def compare_registry(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    a, b = old.registry, new.registry
    if a is None or b is None:
        if a is not b:
            yield Change(
                "registry",
                "added" if b else "removed",
                "review",
                "models are " + ("now" if b else "no longer") + " registered",
                "pipeline",
                covers=(("registry",),),
            )
        return
    if a.registered_model != b.registered_model:
        yield Change(
            "registry",
            f"registered model {a.registered_model} -> {b.registered_model}",
            "review",
            "versions go to another model: a new target",
            "major",
            covers=(("registry", "registered_model"),),
        )
    if a.model != b.model:
        yield Change(
            "registry",
            f"registers {show(a.model)} -> {show(b.model)}",
            "review",
            "another artifact becomes the model",
            "minor",
            covers=(("registry", "model"),),
        )
    if a.tracking_uri != b.tracking_uri:
        yield Change(
            "registry",
            f"tracking_uri {show(a.tracking_uri)} -> {show(b.tracking_uri)}",
            "review",
            "another registry",
            "pipeline",
            covers=(("registry", "tracking_uri"),),
        )
    if a.reference != b.reference:
        yield Change(
            "registry",
            f"reference {show(a.reference)} -> {show(b.reference)}",
            "review",
            "new versions record other training data: monitors measure drift against it"
            if b.reference
            else "new versions record no training data: a monitor's drift checks need one",
            "pipeline",
            covers=(("registry", "reference"),),
        )
    yield from _rules(a, b)


def _rules(a: ir.Registry, b: ir.Registry) -> Iterator[Change]:
    old, new = keyed(a.rules, _alias), keyed(b.rules, _alias)
    for alias in sorted(old.keys() - new.keys()):
        yield Change(
            f"promotion {alias}",
            "removed",
            "review",
            "nothing sets that alias now",
            "pipeline",
            f"promote_{alias}",
            (("registry", "rules", at(alias)),),
        )
    for alias in sorted(new.keys() - old.keys()):
        yield Change(
            f"promotion {alias}",
            "added",
            "review",
            "a new alias is set",
            "pipeline",
            f"promote_{alias}",
            (("registry", "rules", at(alias)),),
        )
    for alias in sorted(old.keys() & new.keys()):
        x, y, node = old[alias], new[alias], f"promote_{alias}"
        rule = ("registry", "rules", at(alias))
        for gate in sorted(set(x.gates) - set(y.gates)):
            yield Change(
                f"promotion {alias}",
                f"gate {gate} no longer required",
                "risky",
                "a model that fails it can now be promoted",
                "pipeline",
                node,
                ((*rule, "gates"),),
            )
        for gate in sorted(set(y.gates) - set(x.gates)):
            yield Change(
                f"promotion {alias}",
                f"gate {gate} now required",
                "safe",
                "one more gate must pass",
                "pipeline",
                node,
                ((*rule, "gates"),),
            )
        if x.after_rollout != y.after_rollout:
            yield Change(
                f"promotion {alias}",
                "waits for the rollout" if y.after_rollout else "no longer waits for the rollout",
                "safe" if y.after_rollout else "risky",
                "promoted only after a successful rollout"
                if y.after_rollout
                else "promoted before serving has proven it",
                "pipeline",
                node,
                ((*rule, "after_rollout"),),
            )


def _alias(rule: ir.PromotionRule) -> str:
    return rule.alias
