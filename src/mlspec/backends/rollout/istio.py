"""Plain Istio: two arms and a fixed traffic split, with no controller that moves it.

Objects (all named after the service, in its namespace):

- Deployments `<name>-stable` and `<name>-candidate`, each labelled with its track
  (`mlspec.dev/track`). Stable serves the alias that a promotion rule `after: [rollout]` sets
  (e.g. champion): what users get today. Candidate serves `rollout.model_alias` (e.g.
  challenger), the version pinned by CI when it is given.
- Service `<name>` over both arms, so callers keep one address.
- DestinationRule `<name>`: subsets `stable` and `candidate` by track label.
- VirtualService `<name>` with named routes, evaluated in order:
  - ab_test weight w: `primary` sends 100-w to stable and w to candidate;
  - ab_test header: `ab-candidate` sends requests whose header (name lower-cased, as Envoy
    sees it) matches exact/prefix/regex to candidate, then `primary` sends the rest to stable;
  - ab_test cookie: the same, matching the `cookie` header against
    `^(.*?;\\s*)?(NAME=VALUE)(;.*)?$` (RE2, name and value escaped): the pair first in the
    header or after any `;`, with or without the space browsers put there;
  - shadow: `primary` sends everything to stable and mirrors `percent`% of it to candidate
    (`mirror` + `mirrorPercentage`), whose answers Envoy discards.

The VirtualService's one host is the Service's FQDN, the name the DestinationRule uses too. A
short name would mean the same service (Istio reads it in the rule's namespace), and Envoy
matches every form callers use (`name`, `name.namespace`, the FQDN) against the one host, so a
second entry would add nothing. Without `gateways` the routes apply to in-mesh callers.

Nothing here evaluates the split: the A/B test does not end after its duration and no analysis
runs, so the spec gets a warning saying so. The split stays until the spec changes; CI or a
person reads the metrics and promotes by moving the stable alias. Nothing changes these objects
at run time either, so Argo CD needs no ignoreDifferences.
"""

from __future__ import annotations

from mlspec.backends.rollout import base
from mlspec.backends.rollout.base import Manifests
from mlspec.backends.rollout.k8s import Doc, document
from mlspec.backends.rollout.matching import cookie_regex, header_name
from mlspec.backends.rollout.release import TRACK_LABEL, Model, Release
from mlspec.backends.rollout.workload import deployment, service
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

API_VERSION = "networking.istio.io/v1"
STABLE = "stable"
CANDIDATE = "candidate"
PRIMARY_ROUTE = "primary"
CANDIDATE_ROUTE = "ab-candidate"


class Istio:
    def problems(self, release: Release) -> list[Diagnostic]:
        return _model_problems(release) + _unevaluated(release.rollout.strategy)

    def manifests(self, release: Release) -> Manifests:
        return Manifests(
            resources=[
                arm(release, STABLE, release.stable),
                arm(release, CANDIDATE, release.candidate),
                service(release, release.name),
                destination_rule(release),
                virtual_service(release),
            ]
        )


def host(release: Release) -> str:
    return f"{release.name}.{release.namespace}.svc.cluster.local"


def arm(release: Release, track: str, model: Model | None) -> Doc:
    labels = {TRACK_LABEL: track}
    return deployment(
        release,
        f"{release.name}-{track}",
        model,
        selector={**release.selector(), **labels},
        extra_labels=labels,
    )


def destination_rule(release: Release) -> Doc:
    subsets = [{"name": track, "labels": {TRACK_LABEL: track}} for track in (STABLE, CANDIDATE)]
    return document(
        API_VERSION,
        "DestinationRule",
        release.name,
        release.namespace,
        labels=release.labels(),
        spec={"host": host(release), "subsets": subsets},
    )


def virtual_service(release: Release) -> Doc:
    return document(
        API_VERSION,
        "VirtualService",
        release.name,
        release.namespace,
        labels=release.labels(),
        spec={"hosts": [host(release)], "http": routes(release)},
    )


def routes(release: Release) -> list[Doc]:
    strategy = release.rollout.strategy
    to = host(release)
    if isinstance(strategy, ir.Shadow):
        primary = _route(PRIMARY_ROUTE, [_destination(to, STABLE, 100)])
        primary["mirror"] = {"host": to, "subset": CANDIDATE}
        primary["mirrorPercentage"] = {"value": float(strategy.percent)}
        return [primary]
    assert isinstance(strategy, ir.AbTest), strategy  # base.SUPPORT admits nothing else
    if strategy.weight is not None:
        stable = _destination(to, STABLE, 100 - strategy.weight)
        return [_route(PRIMARY_ROUTE, [stable, _destination(to, CANDIDATE, strategy.weight)])]
    candidate = _route(
        CANDIDATE_ROUTE, [_destination(to, CANDIDATE, 100)], match=header_match(strategy)
    )
    return [candidate, _route(PRIMARY_ROUTE, [_destination(to, STABLE, 100)])]


def header_match(ab_test: ir.AbTest) -> Doc:
    """The HTTPMatchRequest `headers` that pick the candidate: one header, one StringMatch."""
    if ab_test.header is not None:
        name, how, value = ab_test.header
        return {header_name(name): {how: value}}
    assert ab_test.cookie is not None
    name, value = ab_test.cookie
    return {"cookie": {"regex": cookie_regex(name, value)}}


def _route(name: str, destinations: list[Doc], match: Doc | None = None) -> Doc:
    out: Doc = {"name": name}
    if match is not None:
        out["match"] = [{"headers": match}]  # Istio's documented order: name, match, route
    out["route"] = destinations
    return out


def _destination(to: str, subset: str, weight: int) -> Doc:
    # Weight 100 on a lone destination too: every split reads the same, and sums to 100.
    return {"destination": {"host": to, "subset": subset}, "weight": weight}


# --- what plain Istio cannot do -------------------------------------------------------------


def _model_problems(release: Release) -> list[Diagnostic]:
    span = release.rollout.controller_span
    if release.pipeline.registry is None:
        return [
            base.error(
                span,
                "Istio's two arms serve two registry models, and the spec has no registry",
                "add a registry section whose promotion rules set the candidate and stable aliases",
            )
        ]
    found: list[Diagnostic] = []
    if release.stable is None:
        found.append(
            base.error(
                span,
                "the stable arm serves the alias that a promotion rule `after: [rollout]` sets, "
                "and no rule waits for the rollout",
                "add a rule under registry.promote, e.g. "
                "{alias: champion, after: [model_quality, rollout]}",
            )
        )
    if release.candidate is None:
        found.append(
            base.error(
                span,
                "the candidate arm serves rollout.model_alias, which is not set",
                "e.g. model_alias: challenger",
            )
        )
    return found


def _unevaluated(strategy: ir.Strategy) -> list[Diagnostic]:
    """Plain Istio routes and never measures: a warning names what the spec asks in vain."""
    if not isinstance(strategy, ir.Shadow | ir.AbTest):
        return []
    asked = [f"end the split after {_human(strategy.duration_seconds)}"]
    if strategy.analysis:
        asked.append(f"run the analysis ({', '.join(strategy.analysis)})")
    return [
        base.warning(
            strategy.span,
            f"plain Istio does not {' or '.join(asked)}: the split stays until the spec changes",
            "CI or a person reads the metrics and promotes; argo-rollouts or flagger run "
            "analyses and end the test by themselves",
        )
    ]


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
