"""Argo Rollouts: a Rollout that replaces the Deployment, with Istio traffic routing.

- canary: host-level splitting between the stable Service `<name>` and `<name>-canary`, through
  the VirtualService `<name>`'s route `primary`; spec steps become setWeight / pause / analysis
  steps, the strategy's `analysis` runs in the background.
- A/B by weight: setWeight to the candidate's share, hold for the duration, then promote.
- A/B by header or cookie: the candidate runs at full size (setCanaryScale) and gets only the
  matching requests through a managed header route; the route is removed after the duration.
  A cookie is matched as a regular expression on the `cookie` header.
- shadow: the candidate gets a mirrored share of the requests (setMirrorRoute) for the duration
  and answers nobody; then the mirror is removed.
- blue/green: active Service `<name>`, preview Service, pre- and post-promotion analysis,
  auto-promotion (after a delay) or manual, and a scale-down delay. No Istio objects.

After the last step Argo Rollouts promotes the candidate; a failed analysis aborts and returns
all traffic to the stable version. Host-level splitting needs no DestinationRule: each Service
is a host of its own (the `istio` controller, which splits one host, emits one).
"""

from __future__ import annotations

from mlspec.backends.rollout import analysis, smoke, workload
from mlspec.backends.rollout.base import Manifests, ignore, warning
from mlspec.backends.rollout.k8s import Doc, document, duration
from mlspec.backends.rollout.matching import cookie_regex, header_name
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

API = "argoproj.io/v1alpha1"
PRIMARY_ROUTE = "primary"
AB_ROUTE = "ab-test"
MIRROR_ROUTE = "shadow"
# Everything: a mirror route must match something, and an empty match would remove it.
ALL_REQUESTS = [{"path": {"prefix": "/"}}]


class ArgoRollouts:
    def problems(self, release: Release) -> list[Diagnostic]:
        load = release.rollout.load
        if load is None:  # every strategy in base.SUPPORT maps fully
            return []
        return [
            warning(
                load.span,
                "Argo Rollouts has no load generator: rollout.load is not generated, so an "
                "idle new version is measured on the traffic it gets",
                "run a load generator at the canary (or preview) Service beside the rollout, "
                "e.g. a k6 or hey Deployment, or use controller: flagger (its load tester)",
            )
        ]

    def manifests(self, release: Release) -> Manifests:
        rollout = release.rollout
        name = release.name
        out = Manifests()
        out.resources += [analysis.analysis_template(release, m) for m in analysis.used(rollout)]
        strategy = rollout.strategy
        if rollout.smoke is not None:
            service = (
                strategy.preview_service
                if isinstance(strategy, ir.BlueGreen)
                else _canary_service(release)
            )
            out.resources += [
                smoke.config_map(release, rollout.smoke),
                smoke.analysis_template(release, service, rollout.smoke),
            ]
        if isinstance(strategy, ir.BlueGreen):
            out.resources += [
                workload.service(release, name),
                workload.service(release, strategy.preview_service),
                _rollout(release, {"blueGreen": _blue_green(release, strategy)}),
            ]
            return out
        canary, managed = _canary(release, strategy)
        out.resources += [
            workload.service(release, name),
            workload.service(release, _canary_service(release)),
            _virtual_service(release),
            _rollout(release, {"canary": canary}),
        ]
        if managed:  # Argo inserts and removes whole routes: the route list is its own
            out.ignore_differences.append(
                ignore("networking.istio.io", "VirtualService", name, release.namespace,
                       jsonPointers=["/spec/http"])
            )  # fmt: skip
        else:
            out.ignore_differences.append(
                ignore("networking.istio.io", "VirtualService", name, release.namespace,
                       jqPathExpressions=[".spec.http[].route[].weight"])
            )  # fmt: skip
        return out


def _canary_service(release: Release) -> str:
    return f"{release.name}-canary"


def _rollout(release: Release, strategy: Doc) -> Doc:
    spec = workload.workload_spec(release, release.candidate)
    spec["strategy"] = strategy
    return document(API, "Rollout", release.name, release.namespace, labels=release.labels(),
                    spec=spec)  # fmt: skip


def _blue_green(release: Release, bg: ir.BlueGreen) -> Doc:
    out: Doc = {
        "activeService": release.name,
        "previewService": bg.preview_service,
        "autoPromotionEnabled": bg.auto_promote,
    }
    if bg.auto_promote_after_seconds is not None:
        out["autoPromotionSeconds"] = bg.auto_promote_after_seconds
    out["scaleDownDelaySeconds"] = bg.scale_down_delay_seconds
    # The smoke test joins the pre-promotion analysis: the preview gets no user traffic.
    first = (smoke.template_name(release),) if release.rollout.smoke is not None else ()
    if bg.pre_promotion_analysis or first:
        out["prePromotionAnalysis"] = analysis.templates(
            release, bg.pre_promotion_analysis, extra=first
        )
    if bg.post_promotion_analysis:
        out["postPromotionAnalysis"] = analysis.templates(release, bg.post_promotion_analysis)
    return out


def _canary(release: Release, strategy: ir.Strategy) -> tuple[Doc, list[str]]:
    """The canary strategy block and the names of the routes Argo manages in the VS."""
    steps, background, managed = _steps(release, strategy)
    out: Doc = {
        "canaryService": _canary_service(release),
        "stableService": release.name,
        "trafficRouting": {},
    }
    if managed:
        out["trafficRouting"]["managedRoutes"] = [{"name": route} for route in managed]
    out["trafficRouting"]["istio"] = {
        "virtualService": {"name": release.name, "routes": [PRIMARY_ROUTE]}
    }
    steps = _smoke_first(release, steps)
    if background:
        out["analysis"] = analysis.templates(release, background)
        out["analysis"]["startingStep"] = _after_first_traffic(steps)
    out["steps"] = steps
    return out, managed


_TRAFFIC = ("setWeight", "setMirrorRoute", "setHeaderRoute")


def _after_first_traffic(steps: list[Doc]) -> int:
    """Where the background analysis starts: once the candidate gets requests. Before that a
    query of its pods has no data (inconclusive: a pause), and one of the whole service judges
    the stable version alone. At most the last step (Argo starts nothing after it)."""
    first = next(i for i, step in enumerate(steps) if any(k in step for k in _TRAFFIC))
    return min(first + 1, len(steps) - 1)


def _smoke_first(release: Release, steps: list[Doc]) -> list[Doc]:
    """The smoke test as a step before any traffic. Before the first weight a traffic-routed
    canary has no pods (its size follows its weight, 0), so one pod is started for the test
    and the size then follows the weight again; a strategy that starts at full size keeps it."""
    if release.rollout.smoke is None:
        return steps
    test = {"analysis": {"templates": [{"templateName": smoke.template_name(release)}]}}
    if steps and "setCanaryScale" in steps[0]:
        return [steps[0], test, *steps[1:]]
    return [
        {"setCanaryScale": {"replicas": 1}},
        test,
        {"setCanaryScale": {"matchTrafficWeight": True}},
        *steps,
    ]


def _steps(release: Release, strategy: ir.Strategy) -> tuple[list[Doc], tuple[str, ...], list[str]]:
    """Canary steps, background analysis and managed routes for one strategy."""
    full_size = {"setCanaryScale": {"replicas": release.service.replicas}}
    if isinstance(strategy, ir.Canary):
        return [_step(release, s) for s in strategy.steps], strategy.analysis, []
    if isinstance(strategy, ir.Shadow):
        mirror = {"name": MIRROR_ROUTE, "percentage": strategy.percent, "match": ALL_REQUESTS}
        steps: list[Doc] = [
            full_size,
            {"setMirrorRoute": mirror},
            {"pause": {"duration": duration(strategy.duration_seconds)}},
            {"setMirrorRoute": {"name": MIRROR_ROUTE}},  # no match: remove the route
        ]
        return steps, strategy.analysis, [MIRROR_ROUTE]
    assert isinstance(strategy, ir.AbTest), f"unsupported strategy {strategy!r}"
    hold = {"pause": {"duration": duration(strategy.duration_seconds)}}
    if strategy.weight is not None:
        return [{"setWeight": strategy.weight}, hold], strategy.analysis, []
    match = {"name": AB_ROUTE, "match": [_header_match(strategy)]}
    steps = [full_size, {"setHeaderRoute": match}, hold, {"setHeaderRoute": {"name": AB_ROUTE}}]
    return steps, strategy.analysis, [AB_ROUTE]


def _header_match(ab: ir.AbTest) -> Doc:
    if ab.header is not None:
        name, how, value = ab.header
        return {"headerName": header_name(name), "headerValue": {how: value}}
    assert ab.cookie is not None
    return {"headerName": "cookie", "headerValue": {"regex": cookie_regex(*ab.cookie)}}


def _step(release: Release, step: ir.CanaryStep) -> Doc:
    if step.action == "weight":
        return {"setWeight": step.weight}
    if step.action == "pause":
        if step.pause_seconds is None:  # wait for `kubectl argo rollouts promote`
            return {"pause": {}}
        return {"pause": {"duration": duration(step.pause_seconds)}}
    return {"analysis": analysis.templates(release, step.analysis)}


def _virtual_service(release: Release) -> Doc:
    """Routes all requests for the stable host; Argo moves the weights while it rolls out."""

    def destination(host: str, weight: int) -> Doc:
        return {"destination": {"host": host}, "weight": weight}

    return document(
        "networking.istio.io/v1",
        "VirtualService",
        release.name,
        release.namespace,
        labels=release.labels(),
        spec={
            "hosts": [release.name],
            "http": [
                {
                    "name": PRIMARY_ROUTE,
                    "route": [
                        destination(release.name, 100),
                        destination(_canary_service(release), 0),
                    ],
                }
            ],
        },
    )
