"""Flagger: a Canary (flagger.app/v1beta1) that drives the service's Deployment through Istio.

mlspec writes the target Deployment `<name>`, a Canary `<name>` and one MetricTemplate
`<name>-<metric>` per analysis metric the strategy uses (runs of '_' in the metric's name as
one '-': the form the checker keeps unique, MS221). Flagger creates the rest itself: the
Deployment `<name>-primary` that serves users (with the target's `replicas`), the Services
`<name>`, `<name>-primary` and `<name>-canary`, and the Istio VirtualService and
DestinationRule; emitting them too would make two owners. Flagger finds the pods by the
`app.kubernetes.io/name` selector label, one of the labels it looks for by default.

Flagger runs one loop: every `analysis.interval` it checks *all* the Canary's metrics, counts
a failed check if any metric is out of range, and otherwise advances one step. It rolls back
when the failed checks reach `threshold`. The strategies map onto that loop as follows:

- canary: `stepWeights` are the steps' weights in order; a final weight 100 is dropped, since
  Flagger promotes once the last step has passed a check (a canary whose only weight is 100
  keeps it: Flagger needs one step). Each weight holds for one interval, which is the length of
  the pauses, so timed pauses must all be equal; without pauses it is the shortest interval of
  the metrics used (1m with none). A manual pause cannot be expressed: Flagger gates promotion
  only with a confirm-promotion webhook. The metrics are the background analysis and every
  step's analysis in first-use order; an analysis step does not run for `count` measurements
  as in Argo Rollouts, its metrics are checked every interval from the first weight on.
- blue_green: `iterations` alone. Flagger promotes by itself after them, so `auto_promote`
  must be true and there is no post-promotion analysis. Iterations are `auto_promote_after`
  divided by the interval, rounded up, else the largest `count` of the pre-promotion metrics.
  The preview service and `scale_down_delay` have no Flagger field: Flagger names its own
  Services (`<name>-canary` is the preview) and scales the old version down after promotion.
- shadow: `iterations` (duration / interval, rounded up) with `mirror: true` and
  `mirrorWeight` = percent: Istio mirrors that share of requests to the candidate, whose
  responses are dropped; after the iterations Flagger promotes.
- ab_test by header or cookie: `iterations` (duration / interval) with `match`: matching
  requests go to the candidate. A header name is lower-cased (Istio matches lower-case
  names); a cookie becomes a regular expression over the Cookie header: Flagger's documented
  form, also allowing the space browsers put after ';' (`matching.cookie_regex`).
- every strategy: the interval is written in minutes or seconds only (the CRD's pattern is
  `^[0-9]+(m|s)`); `threshold` is the smallest `failure_limit + 1` of the metrics used (the
  strictest metric decides, as it would in Argo Rollouts), or 1 with no metrics, when nothing
  counts failed checks anyway. A metric's `count` has no Flagger meaning outside blue_green.

Metrics are Prometheus queries in MetricTemplates; Flagger renders a query as a Go template
(`{{ namespace }}`, `{{ target }}`, `{{ interval }}`), so `{{` in a query is Flagger syntax.
`${canary}` becomes the matcher Flagger's own built-in Istio checks use for the canary
(pkg/metrics/observers/istio.go: `destination_workload_namespace="{{ namespace }}",
destination_workload=~"{{ target }}"`), and `${stable}` the same for the primary,
`{{ target }}-primary`: both select Istio's request telemetry (istio_requests_total,
istio_request_duration_milliseconds_bucket) by the workload that answered.
Web checks have no Flagger provider and are reported. Flagger has no dry run: every metric of
a Canary gates it, so `dry_run: true` is reported. A query without data (an empty vector or
NaN) is a failed check in Flagger ("Halt advancement no values found", fluxcd/flagger#1098):
`no_data: fail` exactly; `inconclusive`, which would wait for a person, is warned about
(field_checks.flagger_no_data). The smoke test and the load are webhooks (loadtester.py).

Flagger keeps the target Deployment at zero replicas except while it analyses a new revision,
so Argo CD must ignore its `/spec/replicas`; Flagger changes nothing else that mlspec writes
(of the Canary, it writes the status only).
"""

from __future__ import annotations

import math

from mlspec.backends.rollout import base, loadtester, workload
from mlspec.backends.rollout.analysis import expand
from mlspec.backends.rollout.base import Manifests
from mlspec.backends.rollout.k8s import Doc, document
from mlspec.backends.rollout.matching import cookie_regex, header_name
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic
from mlspec.names import target_key

API_VERSION = "flagger.app/v1beta1"
DEFAULT_INTERVAL = 60  # seconds; Flagger's own default interval
_ARGO = "argo-rollouts"
# What `${canary}` and `${stable}` become: Flagger's built-in Istio checks' workload matcher.
_WORKLOAD = 'destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}'
CANARY_MATCHER = _WORKLOAD + '"'
STABLE_MATCHER = _WORKLOAD + '-primary"'


class Flagger:
    def problems(self, release: Release) -> list[Diagnostic]:
        strategy = release.rollout.strategy
        found: list[Diagnostic] = []
        if isinstance(strategy, ir.Canary):
            found += _canary_problems(strategy)
        elif isinstance(strategy, ir.BlueGreen):
            found += _blue_green_problems(strategy)
        found += _metric_problems(release)
        return found

    def manifests(self, release: Release) -> Manifests:
        metrics = used_metrics(release.rollout)
        resources = [
            workload.deployment(release, release.name, release.candidate),
            *(metric_template(release, m) for m in metrics),
            canary(release, metrics),
        ]
        replicas = base.ignore(
            "apps", "Deployment", release.name, release.namespace, jsonPointers=["/spec/replicas"]
        )
        return Manifests(resources, [replicas])


# --- problems ---------------------------------------------------------------------------------


def _canary_problems(strategy: ir.Canary) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    first: int | None = None
    unequal_reported = False
    for step in strategy.steps:
        if step.action != "pause":
            continue
        if step.pause_seconds is None:
            found.append(
                base.error(
                    step.span,
                    "Flagger cannot wait for a manual promotion between canary steps: it "
                    "advances on its own after every successful check",
                    f"give the pause a duration, or use {_ARGO}, which has manual pauses",
                )
            )
        elif first is None:
            first = step.pause_seconds
        elif step.pause_seconds != first and not unequal_reported:
            unequal_reported = True
            found.append(
                base.error(
                    step.span,
                    f"Flagger advances a canary on one fixed interval, but this pause is "
                    f"{_duration(step.pause_seconds)} and an earlier one {_duration(first)}",
                    f"make the pauses equal, or use {_ARGO}, which pauses step by step",
                )
            )
    return found


def _blue_green_problems(strategy: ir.BlueGreen) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    if not strategy.auto_promote:
        found.append(
            base.error(
                strategy.span,
                "Flagger promotes blue/green by itself after its analysis; it cannot wait for "
                "a manual promotion",
                f"set auto_promote: true, or use {_ARGO}, which supports manual promotion",
            )
        )
    if strategy.post_promotion_analysis:
        found.append(
            base.error(
                strategy.span,
                "Flagger analyses the new version only before promotion, so "
                "post_promotion_analysis cannot run",
                f"move the metrics to pre_promotion_analysis, or use {_ARGO}",
            )
        )
    return found


def _metric_problems(release: Release) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for metric in used_metrics(release.rollout):
        if metric.provider == "web":
            found.append(
                base.error(
                    metric.span,
                    f"analysis {metric.name!r} is a web check, which Flagger cannot run: its "
                    "MetricTemplates query a metrics provider such as Prometheus",
                    f"measure it with a Prometheus query, or use {_ARGO}, which has web metrics",
                )
            )
        if metric.dry_run:
            found.append(
                base.error(
                    metric.span,
                    f"analysis {metric.name!r} has dry_run: true, and Flagger has no dry run: "
                    "every metric of a Canary halts it when out of range",
                    "leave the metric out of the strategy and watch its query in Prometheus "
                    f"until you trust it, or use {_ARGO}, whose dryRun measures without acting",
                )
            )
    return found


# --- manifests --------------------------------------------------------------------------------


def used_metrics(rollout: ir.Rollout) -> tuple[ir.AnalysisMetric, ...]:
    """The metrics the strategy refers to, each once, in the order they are first used."""
    by_name = {m.name: m for m in rollout.analysis}
    names = dict.fromkeys(_metric_names(rollout.strategy))
    return tuple(by_name[name] for name in names)


def _metric_names(strategy: ir.Strategy) -> list[str]:
    if isinstance(strategy, ir.Canary):
        return [*strategy.analysis, *(n for step in strategy.steps for n in step.analysis)]
    if isinstance(strategy, ir.BlueGreen):
        return [*strategy.pre_promotion_analysis, *strategy.post_promotion_analysis]
    if isinstance(strategy, ir.Shadow | ir.AbTest):
        return list(strategy.analysis)
    raise ValueError(f"Flagger has no {type(strategy).__name__} strategy")


def template_name(release: Release, metric: ir.AnalysisMetric) -> str:
    # target_key ('_' runs to '-', stripped) is the form the checker keeps unique (MS221).
    return f"{release.name}-{target_key(metric.name)}"


def metric_template(release: Release, metric: ir.AnalysisMetric) -> Doc:
    assert metric.provider == "prometheus" and metric.query and metric.address, metric.name
    return document(
        API_VERSION,
        "MetricTemplate",
        template_name(release, metric),
        release.namespace,
        labels=release.labels(),
        spec={
            "provider": {"type": "prometheus", "address": metric.address},
            "query": expand(metric.query, canary=CANARY_MATCHER, stable=STABLE_MATCHER),
        },
    )


def canary(release: Release, metrics: tuple[ir.AnalysisMetric, ...]) -> Doc:
    return document(
        API_VERSION,
        "Canary",
        release.name,
        release.namespace,
        labels=release.labels(),
        spec={
            "provider": "istio",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": release.name},
            # The container port by name: the port number lives in one place, the Deployment.
            "service": {"port": release.service.port, "targetPort": workload.PORT_NAME},
            "analysis": analysis(release, metrics),
        },
    )


def analysis(release: Release, metrics: tuple[ir.AnalysisMetric, ...]) -> Doc:
    strategy = release.rollout.strategy
    interval = _interval(strategy, metrics)
    out: Doc = {"interval": _duration(interval), "threshold": _threshold(metrics)}
    out.update(_progression(strategy, interval, metrics))
    if metrics:
        out["metrics"] = [_metric_check(release, m) for m in metrics]
    hooks = loadtester.webhooks(release, _duration)
    if hooks:
        out["webhooks"] = hooks
    return out


def _progression(
    strategy: ir.Strategy, interval: int, metrics: tuple[ir.AnalysisMetric, ...]
) -> Doc:
    """The fields that choose Flagger's strategy: stepWeights, or iterations with extras."""
    if isinstance(strategy, ir.Canary):
        return {"stepWeights": _step_weights(strategy)}
    if isinstance(strategy, ir.BlueGreen):
        if strategy.auto_promote_after_seconds is not None:
            return {"iterations": _iterations(strategy.auto_promote_after_seconds, interval)}
        return {"iterations": max((m.count for m in metrics), default=1)}
    if isinstance(strategy, ir.Shadow):
        return {
            "iterations": _iterations(strategy.duration_seconds, interval),
            "mirror": True,
            "mirrorWeight": strategy.percent,
        }
    if isinstance(strategy, ir.AbTest):
        return {
            "iterations": _iterations(strategy.duration_seconds, interval),
            "match": [{"headers": _match_headers(strategy)}],
        }
    raise ValueError(f"Flagger has no {type(strategy).__name__} strategy")


def _step_weights(strategy: ir.Canary) -> list[int]:
    weights = [s.weight for s in strategy.steps if s.weight is not None]
    if len(weights) > 1 and weights[-1] == 100:
        weights.pop()  # Flagger promotes after the last step; 100 would add one more interval
    return weights


def _match_headers(strategy: ir.AbTest) -> Doc:
    if strategy.header is not None:
        name, how, value = strategy.header
        return {header_name(name): {how: value}}
    assert strategy.cookie is not None, "Flagger has no A/B test by weight"
    name, value = strategy.cookie
    return {"cookie": {"regex": cookie_regex(name, value)}}


def _metric_check(release: Release, metric: ir.AnalysisMetric) -> Doc:
    return {
        "name": metric.name,
        "templateRef": {"name": template_name(release, metric), "namespace": release.namespace},
        "thresholdRange": _threshold_range(metric),
        "interval": _duration(metric.interval_seconds),
    }


def _threshold_range(metric: ir.AnalysisMetric) -> Doc:
    out: Doc = {}
    for key, bound in (("min", metric.min), ("max", metric.max)):
        if bound is not None:
            # The manifests are applied outside any pipeline run: no parameter can fill them.
            assert not isinstance(bound, ir.ParamRef), f"{metric.name}.{key} is a parameter"
            out[key] = bound
    return out


def _interval(strategy: ir.Strategy, metrics: tuple[ir.AnalysisMetric, ...]) -> int:
    if isinstance(strategy, ir.Canary):
        pauses = [s.pause_seconds for s in strategy.steps if s.pause_seconds is not None]
        if pauses:
            return pauses[0]  # all equal, or problems() reported it
    return min((m.interval_seconds for m in metrics), default=DEFAULT_INTERVAL)


def _threshold(metrics: tuple[ir.AnalysisMetric, ...]) -> int:
    return min((m.failure_limit + 1 for m in metrics), default=1)


def _iterations(duration: int, interval: int) -> int:
    return max(1, math.ceil(duration / interval))


def _duration(seconds: int) -> str:
    """Minutes or seconds: Flagger's CRD takes `^[0-9]+(m|s)` (k8s.duration may say '1h')."""
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
