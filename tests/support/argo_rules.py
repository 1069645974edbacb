"""Argo Rollouts' own rules, which its CRD schema does not enforce (see schemas/crds/SOURCES.md).

`argo_rules(docs)` checks a whole output folder, since most rules cross objects: the services,
VirtualService and AnalysisTemplates that a Rollout names must exist and fit together.
"""

from __future__ import annotations

import re
from typing import Any

from support.crd_validation import go_duration

Doc = dict[str, Any]

CANARY_ACTIONS = frozenset(
    {"setWeight", "pause", "analysis", "experiment", "setCanaryScale", "setHeaderRoute",
     "setMirrorRoute", "plugin"}
)  # fmt: skip


def _by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _string_match(where: str, match: Any) -> list[str]:
    if not isinstance(match, dict) or len(set(match) & {"exact", "prefix", "regex"}) != 1:
        return [f"{where}: a StringMatch needs exactly one of exact/prefix/regex, got {match!r}"]
    if "regex" in match:
        try:
            re.compile(match["regex"])
        except re.error as exc:
            return [f"{where}: regex does not compile: {exc}"]
    return []


def _templates(where: str, analysis: Doc, templates: dict[str, Doc]) -> list[str]:
    return [
        f"{where}: AnalysisTemplate {ref['templateName']!r} is not emitted"
        for ref in analysis.get("templates", [])
        if ref["templateName"] not in templates
    ]


def argo_rules(docs: list[Doc]) -> list[str]:
    problems: list[str] = []
    services = _by_kind(docs, "Service")
    templates = _by_kind(docs, "AnalysisTemplate")
    virtual_services = _by_kind(docs, "VirtualService")
    for rollout in _by_kind(docs, "Rollout").values():
        spec = rollout["spec"]
        labels = spec["template"]["metadata"]["labels"]
        for key, value in spec["selector"]["matchLabels"].items():
            if labels.get(key) != value:
                problems.append(f"selector {key}={value} does not match the pod template")
        strategy = spec["strategy"]
        if "blueGreen" in strategy:
            problems += _blue_green(strategy["blueGreen"], services, templates)
        if "canary" in strategy:
            problems += _canary(strategy["canary"], services, templates, virtual_services)
    return problems


def _blue_green(bg: Doc, services: dict[str, Doc], templates: dict[str, Doc]) -> list[str]:
    problems = []
    if bg["activeService"] == bg.get("previewService"):
        problems.append("blueGreen: activeService and previewService are the same")
    for key in ("activeService", "previewService"):
        if key in bg and bg[key] not in services:
            problems.append(f"blueGreen.{key}: Service {bg[key]!r} is not emitted")
    if bg.get("autoPromotionSeconds") is not None and not bg.get("autoPromotionEnabled", True):
        problems.append("blueGreen: autoPromotionSeconds without autoPromotionEnabled")
    for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
        if key in bg:
            problems += _templates(f"blueGreen.{key}", bg[key], templates)
    return problems


def _canary(
    canary: Doc, services: dict[str, Doc], templates: dict[str, Doc], vss: dict[str, Doc]
) -> list[str]:
    problems = []
    stable, canary_service = canary.get("stableService"), canary.get("canaryService")
    if stable is not None and stable == canary_service:
        problems.append("canary: stableService and canaryService are the same")
    for name in (stable, canary_service):
        if name is not None and name not in services:
            problems.append(f"canary: Service {name!r} is not emitted")
    routing = canary.get("trafficRouting")
    managed = {r["name"] for r in (routing or {}).get("managedRoutes", [])}
    if routing is not None:
        problems += _istio_routes(routing, stable, canary_service, vss, managed)
    if "analysis" in canary:
        problems += _templates("canary.analysis", canary["analysis"], templates)
    for i, step in enumerate(canary.get("steps", [])):
        where = f"canary.steps[{i}]"
        actions = set(step) & CANARY_ACTIONS
        if len(step) != 1 or len(actions) != 1:
            problems.append(f"{where}: exactly one action per step, got {sorted(step)}")
            continue
        [(action, value)] = step.items()
        problems += _step(where, action, value, routing, managed, templates)
    return problems


def _step(
    where: str,
    action: str,
    value: Any,
    routing: Doc | None,
    managed: set[str],
    templates: dict[str, Doc],
) -> list[str]:
    if action == "setWeight" and not (isinstance(value, int) and 0 <= value <= 100):
        return [f"{where}: setWeight {value!r} is not within 0..100"]
    if action == "pause" and "duration" in value:
        duration = value["duration"]
        seconds = duration if isinstance(duration, int) else go_duration(duration)
        if seconds is None or seconds <= 0:
            return [f"{where}: pause duration {duration!r} is not above 0"]
    if action == "analysis":
        return _templates(where, value, templates)
    if action in ("setHeaderRoute", "setMirrorRoute"):
        problems = []
        if routing is None:
            problems.append(f"{where}: {action} needs trafficRouting")
        if value["name"] not in managed:
            problems.append(f"{where}: route {value['name']!r} is not in managedRoutes")
        for j, match in enumerate(value.get("match", [])):
            if action == "setHeaderRoute":
                problems += _string_match(f"{where}.match[{j}].headerValue", match["headerValue"])
            else:
                for key, string_match in match.items():
                    if key == "headers":
                        for h, m in string_match.items():
                            problems += _string_match(f"{where}.match[{j}].headers.{h}", m)
                    else:
                        problems += _string_match(f"{where}.match[{j}].{key}", string_match)
        if action == "setMirrorRoute" and not 0 <= value.get("percentage", 100) <= 100:
            problems.append(f"{where}: mirror percentage is not within 0..100")
        return problems
    return []


def _istio_routes(
    routing: Doc, stable: str | None, canary: str | None, vss: dict[str, Doc], managed: set[str]
) -> list[str]:
    """Host-level splitting: each named route sends to exactly the stable and canary hosts."""
    istio = routing.get("istio")
    if istio is None:
        return ["canary.trafficRouting: no istio block"]
    problems = []
    refs = istio.get("virtualServices") or [istio["virtualService"]]
    for ref in refs:
        vs = vss.get(ref["name"])
        if vs is None:
            problems.append(f"VirtualService {ref['name']!r} is not emitted")
            continue
        routes = {r.get("name"): r for r in vs["spec"].get("http", [])}
        names = ref.get("routes") or list(routes)
        for route_name in names:
            if route_name in managed:
                problems.append(f"route {route_name!r} is both managed and weighted")
            route = routes.get(route_name)
            if route is None:
                problems.append(f"VirtualService {ref['name']}: no route {route_name!r}")
                continue
            hosts = sorted(d["destination"]["host"] for d in route["route"])
            if hosts != sorted([stable, canary]):
                problems.append(f"route {route_name!r} sends to {hosts}, not stable and canary")
            if sum(d.get("weight", 0) for d in route["route"]) != 100:
                problems.append(f"route {route_name!r}: weights do not add up to 100")
    return problems
