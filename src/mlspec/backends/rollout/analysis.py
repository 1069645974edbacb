"""Analysis metrics as Argo Rollouts AnalysisTemplates: one template per metric.

One template per metric lets a canary step, the background analysis and the blue/green pre- and
post-promotion analyses each name exactly the metrics the spec lists; Argo merges the templates
of one analysis into a single AnalysisRun.

A metric's verdict follows Argo's rules (utils/evaluate.EvaluateResult): a measurement fails when
the failureCondition holds, succeeds when only the successCondition does, and is Inconclusive when
neither does; one inconclusive measurement (inconclusiveLimit 0, the default) makes the run
Inconclusive, which pauses the rollout for a person. A Prometheus query answers a vector, so no
data is an empty vector or a NaN sample (0/0 on an idle canary); a web check answers one JSON
value, and no data is null (a missing field is a provider error, never a pass).
"""

from __future__ import annotations

from mlspec.backends.rollout.k8s import Doc, document, duration
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.names import target_key

# --- shared by the controllers: the placeholders of a query ------------------------------------


def placeholders(query: str) -> tuple[bool, bool]:
    """Whether the query names the canary and the stable version: (canary, stable)."""
    return ir.CANARY_PLACEHOLDER in query, ir.STABLE_PLACEHOLDER in query


def expand(query: str, *, canary: str, stable: str) -> str:
    """The query with ${canary} and ${stable} replaced by a controller's own selectors (label
    matchers, e.g. `rollouts_pod_template_hash="{{args.canary-hash}}"`)."""
    return query.replace(ir.CANARY_PLACEHOLDER, canary).replace(ir.STABLE_PLACEHOLDER, stable)


# --- Argo Rollouts ------------------------------------------------------------------------------

# Argo labels every pod with its ReplicaSet's pod-template hash (`rollouts-pod-template-hash`);
# Prometheus' Kubernetes service discovery turns the label into this name. The Rollout fills the
# arguments from its ReplicaSets (valueFrom.podTemplateHashValue: Latest, the new version, and
# Stable), as Argo's docs show for scoping a query to the canary.
HASH_LABEL = "rollouts_pod_template_hash"
CANARY_ARG, STABLE_ARG = "canary-hash", "stable-hash"
_HASH_OF = {CANARY_ARG: "Latest", STABLE_ARG: "Stable"}


def template_name(release: Release, metric: str) -> str:
    return f"{release.name}-{target_key(metric)}"


def number(value: float) -> str:
    """A threshold as the expr language reads it: plain decimal, never 1e-05."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.15f}".rstrip("0").rstrip(".")
    return text


def _within(metric: ir.AnalysisMetric, value: str) -> str:
    parts = []
    for op, bound in ((">=", metric.min), ("<=", metric.max)):
        if bound is not None:
            assert isinstance(bound, float), "rollout thresholds are numbers (spec check)"
            parts.append(f"{value} {op} {number(bound)}")
    return " && ".join(parts)


def conditions(metric: ir.AnalysisMetric) -> tuple[str, str]:
    """(successCondition, failureCondition). Both are false on no data unless no_data is fail,
    when the failureCondition holds: no data is never a success."""
    if metric.provider == "prometheus":
        value, data = "result[0]", "len(result) > 0 && !isNaN(result[0])"
        missing = "len(result) == 0 || isNaN(result[0])"
    else:
        value, data, missing = "result", "!isNil(result)", "isNil(result)"
    within = _within(metric, value)
    success = f"{data} && {within}"
    if metric.no_data == "fail":
        return success, f"{missing} || !({within})"
    return success, f"{data} && !({within})"


def _arguments(metrics: list[ir.AnalysisMetric]) -> list[str]:
    """The hash arguments the metrics' queries name, canary first."""
    canary = stable = False
    for metric in metrics:
        if metric.provider == "prometheus":
            c, s = placeholders(metric.query or "")
            canary, stable = canary or c, stable or s
    return [arg for arg, used in ((CANARY_ARG, canary), (STABLE_ARG, stable)) if used]


def _query(query: str) -> str:
    return expand(
        query,
        canary=f'{HASH_LABEL}="{{{{args.{CANARY_ARG}}}}}"',
        stable=f'{HASH_LABEL}="{{{{args.{STABLE_ARG}}}}}"',
    )


def provider(metric: ir.AnalysisMetric) -> Doc:
    if metric.provider == "prometheus":
        return {"prometheus": {"address": metric.address, "query": _query(metric.query or "")}}
    return {"web": {"url": metric.url, "jsonPath": metric.json_path}}


def analysis_template(release: Release, metric: ir.AnalysisMetric) -> Doc:
    name = target_key(metric.name)
    success, failure = conditions(metric)
    spec: Doc = {}
    args = _arguments([metric])
    if args:
        spec["args"] = [{"name": arg} for arg in args]
    if metric.dry_run:  # measured and reported, never acted on
        spec["dryRun"] = [{"metricName": name}]
    spec["metrics"] = [
        {
            "name": name,
            "interval": duration(metric.interval_seconds),
            "count": metric.count,
            "failureLimit": metric.failure_limit,
            "successCondition": success,
            "failureCondition": failure,
            "provider": provider(metric),
        }
    ]
    return document(
        "argoproj.io/v1alpha1",
        "AnalysisTemplate",
        template_name(release, metric.name),
        release.namespace,
        labels=release.labels(),
        spec=spec,
    )


def templates(release: Release, names: tuple[str, ...], *, extra: tuple[str, ...] = ()) -> Doc:
    """A Rollout analysis: the templates of the named metrics (and `extra` templates, by
    name), with the pod-template hashes their queries need."""
    refs = [{"templateName": n} for n in extra]
    refs += [{"templateName": template_name(release, n)} for n in names]
    out: Doc = {"templates": refs}
    metrics = [m for m in release.rollout.analysis if m.name in names]
    args = _arguments(metrics)
    if args:
        out["args"] = [
            {"name": arg, "valueFrom": {"podTemplateHashValue": _HASH_OF[arg]}} for arg in args
        ]
    return out


def used(rollout: ir.Rollout) -> list[ir.AnalysisMetric]:
    """The metrics the strategy refers to, in spec order (an unused one gets no template)."""
    strategy = rollout.strategy
    names: set[str] = set()
    for field_name in ("analysis", "pre_promotion_analysis", "post_promotion_analysis"):
        names.update(getattr(strategy, field_name, ()))
    for step in getattr(strategy, "steps", ()):
        names.update(step.analysis)
    return [m for m in rollout.analysis if m.name in names]
