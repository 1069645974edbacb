"""The rollout: analyses it names, the alias it serves, the service, and each strategy's rules."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.fields import PLACEHOLDER_RE
from mlspec.compiler.source import PathKey
from mlspec.compiler.spec import Canary, PromotionRule, Rollout, Strategy
from mlspec.names import suggest


def check_rollout(c: Checker) -> None:
    rollout = c.spec.rollout
    if rollout is None:
        return
    registry = c.spec.registry
    aliases = {rule.alias: rule for rule in registry.promote} if registry else {}
    strategy = rollout.strategy
    base: PathKey = ("rollout", "strategy", strategy.kind)
    _analysis(c, rollout, base)
    _queries(c, rollout)
    _model_alias(c, rollout, aliases)
    _service(c, rollout)
    _canary(c, strategy.canary, base)
    _blue_green(c, rollout, base)
    _bandit(c, rollout, aliases, base)


def _analysis(c: Checker, rollout: Rollout, base: PathKey) -> None:
    for ref_path, name in _analysis_refs(rollout.strategy, base):
        if name not in rollout.analysis:
            c.error(
                ref_path,
                "MS204",
                f"unknown analysis {name!r}",
                suggest(name, rollout.analysis) or "declare it under rollout.analysis",
            )
    for name, metric in rollout.analysis.items():
        if metric.prometheus and not (metric.prometheus.address or rollout.prometheus):
            c.error(
                ("rollout", "analysis", name, "prometheus"),
                "MS242",
                f"analysis {name!r} has no Prometheus address",
                "set 'address' here or 'rollout.prometheus'",
                key=True,
            )


_QUERY_PLACEHOLDERS = (ir.CANARY_PLACEHOLDER, ir.STABLE_PLACEHOLDER)


def _queries(c: Checker, rollout: Rollout) -> None:
    """Placeholders in Prometheus queries, and canary analyses that cannot tell the canary's
    traffic from the stable version's (issue #21: a 10% canary failing every request would
    show as 10% errors)."""
    canary_names = _canary_analysis(rollout.strategy.canary)
    service = re.compile(rf"(?<![\w-]){re.escape(rollout.service.name)}(?![\w-])")
    for name, metric in rollout.analysis.items():
        if metric.prometheus is None:
            continue
        query = metric.prometheus.query
        path: PathKey = ("rollout", "analysis", name, "prometheus", "query")
        for match in PLACEHOLDER_RE.finditer(query):
            if match.group(0) not in _QUERY_PLACEHOLDERS:
                c.error(
                    path,
                    "MS224",
                    f"unknown placeholder {match.group(0)} in the query of analysis {name!r}",
                    "a query's placeholders are ${canary} and ${stable}: the label matchers "
                    "of the canary's and the stable version's pods",
                )
        holds = any(p in query for p in _QUERY_PLACEHOLDERS)
        if name in canary_names and service.search(query) and not holds:
            c.warning(
                path,
                "MS250",
                f"the query of canary analysis {name!r} names the service "
                f"{rollout.service.name!r} but not the canary: it measures the stable "
                "version's traffic and the canary's together",
                "select the canary's pods with ${canary} in place of the service matcher, "
                'e.g. sum(rate(http_requests_total{${canary},code=~"5.."}[5m])) / '
                "sum(rate(http_requests_total{${canary}}[5m])); ${stable} selects the stable "
                "version's",
            )


def _canary_analysis(canary: Canary | None) -> set[str]:
    """The analyses a canary names, in the strategy or in a step."""
    if canary is None:
        return set()
    return {*canary.analysis, *(n for step in canary.steps for n in step.analysis or ())}


def _analysis_refs(strategy: Strategy, base: PathKey) -> Iterator[tuple[PathKey, str]]:
    """Every analysis the strategy names, where it names it."""
    if strategy.canary is not None:
        for i, step in enumerate(strategy.canary.steps):
            for j, name in enumerate(step.analysis or ()):
                yield (*base, "steps", i, "analysis", j), name
    spec = getattr(strategy, strategy.kind)
    lists = ("analysis", "pre_promotion_analysis", "post_promotion_analysis", "guardrails")
    for field_name in lists:
        for j, name in enumerate(getattr(spec, field_name, None) or ()):
            yield (*base, field_name, j), name


def _model_alias(c: Checker, rollout: Rollout, aliases: dict[str, PromotionRule]) -> None:
    if rollout.model_alias is None:
        return
    rule = aliases.get(rollout.model_alias)
    if rule is None:
        c.error(
            ("rollout", "model_alias"),
            "MS205",
            f"rollout serves alias {rollout.model_alias!r}, which no promotion rule sets",
            suggest(rollout.model_alias, aliases) or "add a rule under registry.promote",
        )
    elif "rollout" in rule.after:
        c.error(
            ("rollout", "model_alias"),
            "MS243",
            f"the rollout serves {rollout.model_alias!r}, whose promotion waits for the rollout",
            "roll out the alias the pipeline promotes (e.g. challenger) and "
            "promote champion after the rollout",
        )


def _service(c: Checker, rollout: Rollout) -> None:
    service = rollout.service
    if rollout.controller == "kserve":
        for needed in ("model_format",):
            if getattr(service, needed) is None:
                c.error(
                    ("rollout", "service"),
                    "MS242",
                    f"KServe needs service.{needed}",
                    "e.g. model_format: sklearn",
                    key=True,
                )
        if rollout.model_alias is None:
            c.error(
                ("rollout", "controller"),
                "MS242",
                "KServe serves a registry model: set rollout.model_alias",
                "e.g. model_alias: challenger",
            )
    elif service.image is None:
        c.error(
            ("rollout", "service"),
            "MS242",
            "the service needs an 'image' to roll out",
            "the serving image, e.g. ghcr.io/acme/scorer:1.0.0",
            key=True,
        )


def _canary(c: Checker, canary: Canary | None, base: PathKey) -> None:
    if canary is None:
        return
    last = 0
    weights = 0
    for i, step in enumerate(canary.steps):
        if step.weight is None:
            continue
        weights += 1
        if step.weight <= last:
            c.error(
                (*base, "steps", i, "weight"),
                "MS241",
                f"canary weight {step.weight} does not rise above the previous {last}",
                "canary weights rise step by step towards 100",
            )
        last = max(last, step.weight)
    if not weights:
        c.error(
            (*base, "steps"),
            "MS242",
            "the canary never sends traffic to the new version",
            "add steps with 'weight', e.g. {weight: 10}",
        )


def _blue_green(c: Checker, rollout: Rollout, base: PathKey) -> None:
    blue_green = rollout.strategy.blue_green
    if blue_green is None:
        return
    service = rollout.service
    preview = blue_green.preview_service
    if preview is None and len(service.name) > 63 - len("-preview"):
        c.error(
            ("rollout", "service", "name"),
            "MS111",
            f"the default preview service {service.name}-preview is longer than 63 characters",
            "set blue_green.preview_service, or shorten the service name",
        )
    if preview == service.name:
        c.error(
            (*base, "preview_service"),
            "MS242",
            "the preview service must differ from the active service",
            f"e.g. {service.name}-preview",
        )


def _bandit(c: Checker, rollout: Rollout, aliases: dict[str, PromotionRule], base: PathKey) -> None:
    bandit = rollout.strategy.bandit or rollout.strategy.contextual_bandit
    if bandit is None:
        return
    if rollout.prometheus is None:
        c.error(
            base,
            "MS242",
            "a bandit reads rewards from Prometheus: set rollout.prometheus",
            key=True,
        )
    for arm_name, arm in bandit.arms.items():
        if arm.model_alias is not None and arm.model_alias not in aliases:
            c.error(
                (*base, "arms", arm_name, "model_alias"),
                "MS205",
                f"arm {arm_name!r} serves alias {arm.model_alias!r}, which no promotion rule sets",
                suggest(arm.model_alias, aliases),
            )
