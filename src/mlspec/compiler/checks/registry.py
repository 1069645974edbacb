"""The registry: the registered output, aliases set once, promotions after known gates."""

from __future__ import annotations

from mlspec.compiler.checks.base import Checker
from mlspec.names import suggest


def check_registry(c: Checker) -> None:
    spec = c.spec
    registry = spec.registry
    _check_promote_from(c)
    if registry is None:
        return
    kind = c.output_type(registry.model, ("registry", "model"), "registry.model")
    if kind is not None and kind != "model":
        c.error(
            ("registry", "model"),
            "MS213",
            f"registry.model {registry.model!r} is a {kind}",
            "register an output of type model",
        )
    if registry.reference is not None:
        kind = c.output_type(registry.reference, ("registry", "reference"), "registry.reference")
        if kind is not None and kind != "dataset":
            c.error(
                ("registry", "reference"),
                "MS212",
                f"registry.reference {registry.reference!r} is a {kind}",
                "name the dataset output the model learned from, e.g. ingest.train",
            )
    promoted = {rule.alias for rule in registry.promote}
    for i, alias in enumerate(registry.external_aliases):
        if alias in promoted or alias in registry.external_aliases[:i]:
            c.error(
                ("registry", "external_aliases", i),
                "MS240",
                f"alias {alias!r} is listed twice, or also has a promotion rule",
                "an alias is set by this spec's promotion rule or by another process, "
                "not both: list it once",
            )
    seen: dict[str, int] = {}
    for i, rule in enumerate(registry.promote):
        path = ("registry", "promote", i)
        if rule.alias in seen:
            c.error(
                (*path, "alias"),
                "MS240",
                f"alias {rule.alias!r} has two promotion rules",
                f"merge them with rule {seen[rule.alias] + 1}",
            )
        seen.setdefault(rule.alias, i)
        for j, dep in enumerate(rule.after):
            if dep == "rollout":
                if spec.rollout is None:
                    c.error(
                        (*path, "after", j),
                        "MS244",
                        f"promotion to {rule.alias!r} "
                        "waits for the rollout, but the spec has no rollout section",
                    )
            elif dep not in spec.gates:
                c.error(
                    (*path, "after", j),
                    "MS203",
                    f"unknown gate {dep!r} in promotion to {rule.alias!r}",
                    suggest(dep, [*spec.gates, "rollout"])
                    or f"gates: {', '.join(spec.gates) or 'none'}, or 'rollout'",
                )


def _check_promote_from(c: Checker) -> None:
    """An environment served from another (promote_from) takes the version that passed there:
    a rule that waits for the rollout records that (`mlspec promote --rollout-passed`)."""
    registry = c.spec.registry
    if registry is not None and any("rollout" in rule.after for rule in registry.promote):
        return
    for name, env in c.spec.environments.items():
        if env.promote_from is not None:
            c.error(
                ("environments", name, "promote_from"),
                "MS280",
                f"environment {name!r} promotes from {env.promote_from!r}, but no promotion "
                "rule waits for the rollout: nothing records that a version passed there",
                "add a rule like {alias: champion, after: [model_quality, rollout]} (and a "
                "registry and rollout); `mlspec promote --rollout-passed` applies it once the "
                "rollout there finished",
            )
