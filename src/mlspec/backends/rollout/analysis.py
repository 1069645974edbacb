"""Analysis metrics as Argo Rollouts AnalysisTemplates: one template per metric.

One template per metric lets a canary step, the background analysis and the blue/green pre- and
post-promotion analyses each name exactly the metrics the spec lists; Argo merges the templates
of one analysis into a single AnalysisRun.
"""

from __future__ import annotations

from mlspec.backends.rollout.k8s import Doc, document, duration
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.names import target_key


def template_name(release: Release, metric: str) -> str:
    return f"{release.name}-{target_key(metric)}"


def number(value: float) -> str:
    """A threshold as the expr language reads it: plain decimal, never 1e-05."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.15f}".rstrip("0").rstrip(".")
    return text


def success_condition(metric: ir.AnalysisMetric) -> str:
    # Prometheus answers a vector (take its first sample); a web check answers one value.
    result = "result[0]" if metric.provider == "prometheus" else "result"
    parts = []
    for op, bound in ((">=", metric.min), ("<=", metric.max)):
        if bound is not None:
            assert isinstance(bound, float), "rollout thresholds are numbers (spec check)"
            parts.append(f"{result} {op} {number(bound)}")
    return " && ".join(parts)


def provider(metric: ir.AnalysisMetric) -> Doc:
    if metric.provider == "prometheus":
        return {"prometheus": {"address": metric.address, "query": metric.query}}
    return {"web": {"url": metric.url, "jsonPath": metric.json_path}}


def analysis_template(release: Release, metric: ir.AnalysisMetric) -> Doc:
    return document(
        "argoproj.io/v1alpha1",
        "AnalysisTemplate",
        template_name(release, metric.name),
        release.namespace,
        labels=release.labels(),
        spec={
            "metrics": [
                {
                    "name": target_key(metric.name),
                    "interval": duration(metric.interval_seconds),
                    "count": metric.count,
                    "failureLimit": metric.failure_limit,
                    "successCondition": success_condition(metric),
                    "provider": provider(metric),
                }
            ]
        },
    )


def templates(release: Release, names: tuple[str, ...]) -> Doc:
    """The `templates` reference list of a Rollout analysis."""
    return {"templates": [{"templateName": template_name(release, n)} for n in names]}


def used(rollout: ir.Rollout) -> list[ir.AnalysisMetric]:
    """The metrics the strategy refers to, in spec order (an unused one gets no template)."""
    strategy = rollout.strategy
    names: set[str] = set()
    for field_name in ("analysis", "pre_promotion_analysis", "post_promotion_analysis"):
        names.update(getattr(strategy, field_name, ()))
    for step in getattr(strategy, "steps", ()):
        names.update(step.analysis)
    return [m for m in rollout.analysis if m.name in names]


def expand(query: str, *, canary: str, stable: str) -> str:
    """The query with `${canary}` and `${stable}` replaced by the controller's label matchers
    (the front end allows no other `${...}` in a query: MS224)."""
    return query.replace(ir.CANARY_PLACEHOLDER, canary).replace(ir.STABLE_PLACEHOLDER, stable)
