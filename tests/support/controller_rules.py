"""Rules the rollout controllers enforce at run time that their CRD schemas do not.

A manifest can validate against its CRD and still be refused, or silently misread, by the
controller. Each function checks one controller's rules on an emitted object and returns a
list of messages, each led by the path of the offending value; an empty list means valid.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

Doc = Mapping[str, Any]

# --- Flagger (fluxcd/flagger pkg/controller/scheduler.go, docs "Deployment Strategies") -------

_FLAGGER_PROGRESSIONS = ("iterations", "stepWeight", "stepWeights")
# Metrics Flagger computes itself; any other metric needs a templateRef (or a legacy query).
_FLAGGER_BUILTIN_METRICS = frozenset({"request-success-rate", "request-duration"})


def flagger_rules(canary: Doc, docs: Iterable[Doc] | None = None) -> list[str]:
    """Flagger's rules for a Canary. Given `docs`, the objects emitted with it, every
    MetricTemplate the Canary refers to must be among them (Flagger otherwise fails each check)."""
    analysis = canary.get("spec", {}).get("analysis", {})
    out = [*_flagger_schedule(analysis), *_flagger_weights(analysis), *_flagger_routing(analysis)]
    out += _flagger_metrics(analysis)
    if docs is not None:
        out += _flagger_template_refs(analysis, canary.get("metadata", {}).get("namespace"), docs)
    return out


def _flagger_schedule(analysis: Doc) -> list[str]:
    out = [
        f"spec.analysis.{key}: required" for key in ("interval", "threshold") if key not in analysis
    ]
    # Rollback happens when failed checks >= threshold: 0 rolls back before the first check.
    if analysis.get("threshold", 1) < 1:
        out.append("spec.analysis.threshold: must be at least 1")
    chosen = [key for key in _FLAGGER_PROGRESSIONS if key in analysis]
    if len(chosen) != 1:
        out.append(f"spec.analysis: needs exactly one of {', '.join(_FLAGGER_PROGRESSIONS)}")
    if analysis.get("iterations", 1) < 1:
        out.append("spec.analysis.iterations: must be at least 1")
    return out


def _flagger_weights(analysis: Doc) -> list[str]:
    out: list[str] = []
    if "stepWeights" in analysis:
        weights = analysis["stepWeights"]
        if not weights:
            out.append("spec.analysis.stepWeights: empty; Flagger would never shift traffic")
        if any(not 1 <= w <= 100 for w in weights):
            out.append(f"spec.analysis.stepWeights: {weights} not all within 1..100")
        if any(a >= b for a, b in itertools.pairwise(weights)):
            out.append(f"spec.analysis.stepWeights: {weights} does not rise strictly")
    if "stepWeight" in analysis:
        step, most = analysis["stepWeight"], analysis.get("maxWeight", 100)
        if not 1 <= step <= most <= 100:
            out.append(f"spec.analysis: need 1 <= stepWeight ({step}) <= maxWeight ({most}) <= 100")
    if "maxWeight" in analysis and "stepWeight" not in analysis:
        out.append("spec.analysis.maxWeight: only applies with stepWeight")
    return out


def _flagger_routing(analysis: Doc) -> list[str]:
    out: list[str] = []
    if analysis.get("match") and "iterations" not in analysis:
        # match without iterations is ignored: Flagger then shifts weights for everyone.
        out.append("spec.analysis.match: A/B testing needs iterations")
    if analysis.get("match") and analysis.get("mirror"):
        # runAB is chosen before any mirroring: the mirror would silently never happen.
        out.append("spec.analysis.mirror: not applied in an A/B test (match)")
    if "mirrorWeight" in analysis and not analysis.get("mirror"):
        out.append("spec.analysis.mirrorWeight: only applies with mirror: true")
    if not 0 <= analysis.get("mirrorWeight", 0) <= 100:
        out.append("spec.analysis.mirrorWeight: must be within 0..100")
    return out


def _flagger_metrics(analysis: Doc) -> list[str]:
    out: list[str] = []
    for i, metric in enumerate(analysis.get("metrics", [])):
        where = f"spec.analysis.metrics[{i}]"
        own = "templateRef" in metric or "query" in metric
        if not own and metric.get("name") not in _FLAGGER_BUILTIN_METRICS:
            out.append(f"{where}: neither a built-in metric nor a templateRef")
        bounds = metric.get("thresholdRange", {})
        if not bounds and "threshold" not in metric:
            out.append(f"{where}: no thresholdRange, so the check can never fail")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            out.append(f"{where}.thresholdRange: min is above max")
    return out


def _flagger_template_refs(analysis: Doc, namespace: str | None, docs: Iterable[Doc]) -> list[str]:
    emitted = {
        (d["metadata"]["name"], d["metadata"].get("namespace"))
        for d in docs
        if d.get("kind") == "MetricTemplate"
    }
    out: list[str] = []
    for i, metric in enumerate(analysis.get("metrics", [])):
        ref = metric.get("templateRef")
        # A templateRef without a namespace means the Canary's own.
        if ref is not None and (ref["name"], ref.get("namespace", namespace)) not in emitted:
            out.append(
                f"spec.analysis.metrics[{i}].templateRef: no MetricTemplate {ref['name']!r} "
                "is emitted"
            )
    return out
