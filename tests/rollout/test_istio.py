"""Plain Istio: two arms, a Service, a DestinationRule and a VirtualService per supported
strategy, valid against Istio's CRDs and consistent with each other, and a diagnostic at the
right line for what plain Istio cannot do."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from support.crd_validation import validate_documents

from mlspec.backends.rollout import backend
from mlspec.backends.rollout.base import SUPPORT, variant
from mlspec.backends.rollout.istio import Istio
from mlspec.backends.rollout.matching import cookie_regex
from mlspec.backends.rollout.release import Release
from mlspec.compiler import analyze_text

MATRIX = Path(__file__).parent / "matrix"
# Bandits on Istio are mlspec's bandit controller's (test_bandit_manifests.py).
VARIANTS = sorted(k.replace("/", "-") for k in SUPPORT["istio"] if "bandit" not in k)
URI = "s3://bucket/1/abc/artifacts/model"
VERSION = "7"
FQDN = "fraud-scorer.ml-serving.svc.cluster.local"
TRACK = "mlspec.dev/track"

Doc = dict[str, Any]


def text(name: str, **replace: str) -> str:
    out = (MATRIX / f"istio--{name}.yaml").read_text(encoding="utf-8")
    for old, new in replace.items():
        old = REPLACEMENTS[old]
        assert old in out, old
        out = out.replace(old, new)
    return out


REPLACEMENTS = {
    "champion": "    - {alias: champion, after: [model_quality, rollout]}\n",
    "model_alias": "  model_alias: challenger\n",
    "cookie": "      cookie: {name: ab_group, value: beta.1}\n",
    "header": '      header: {name: X-User-Group, regex: "^beta-(testers|staff)$"}\n',
}


def release(spec: str) -> Release:
    p = analyze_text(spec, "spec.yaml").pipeline
    assert p.rollout is not None
    rollout = dataclasses.replace(p.rollout, model_uri=URI, model_version=VERSION)
    return Release(dataclasses.replace(p, rollout=rollout), rollout)


def line(spec: str, needle: str) -> int:
    return next(i for i, row in enumerate(spec.splitlines(), 1) if needle in row)


def objects(spec: str) -> dict[str, Doc]:
    """The emitted objects by `Kind/name`."""
    docs = Istio().manifests(release(spec)).resources
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def http_routes(spec: str) -> list[Doc]:
    return objects(spec)["VirtualService/fraud-scorer"]["spec"]["http"]


def destinations(route: Doc) -> list[Doc]:
    out = [entry["destination"] for entry in route["route"]]
    if "mirror" in route:
        out.append(route["mirror"])
    return out


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- every supported strategy -------------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_matrix_spec_compiles_to_valid_consistent_objects(name: str) -> None:
    spec = text(name)
    r = release(spec)
    assert variant(r.rollout).replace("/", "-") == name
    assert [d.severity for d in Istio().problems(r)] == ["warning"]
    manifests = Istio().manifests(r)
    assert manifests.ignore_differences == []
    assert validate_documents(manifests.resources) == []
    found = {f"{d['kind']}/{d['metadata']['name']}": d for d in manifests.resources}
    assert sorted(found) == [
        "Deployment/fraud-scorer-candidate",
        "Deployment/fraud-scorer-stable",
        "DestinationRule/fraud-scorer",
        "Service/fraud-scorer",
        "VirtualService/fraud-scorer",
    ]
    for doc in manifests.resources:
        assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]
        assert doc["metadata"]["namespace"] == "ml-serving"
        assert doc["metadata"]["labels"] == r.labels()
    _check_routing(found)
    _check_arms(found)


def _check_routing(found: dict[str, Doc]) -> None:
    rule = found["DestinationRule/fraud-scorer"]["spec"]
    virtual = found["VirtualService/fraud-scorer"]["spec"]
    assert found["DestinationRule/fraud-scorer"]["apiVersion"] == "networking.istio.io/v1"
    assert rule["host"] == FQDN
    assert virtual["hosts"] == [FQDN]
    subsets = {s["name"]: s["labels"] for s in rule["subsets"]}
    assert subsets == {"stable": {TRACK: "stable"}, "candidate": {TRACK: "candidate"}}
    names = [route["name"] for route in virtual["http"]]
    assert all(names) and len(set(names)) == len(names)
    assert names[-1] == "primary"  # the catch-all comes last: Istio takes the first match
    for route in virtual["http"]:
        assert list(route)[:2] == ["name", "match" if "match" in route else "route"]
        assert sum(entry["weight"] for entry in route["route"]) == 100
        for destination in destinations(route):
            assert destination == {"host": FQDN, "subset": destination["subset"]}
            assert destination["subset"] in subsets
        for match in route.get("match", []):
            for string_match in match["headers"].values():
                assert len(set(string_match) & {"exact", "prefix", "regex"}) == 1
                assert len(string_match) == 1
    # Both arms get traffic (mirrored or served) and the stable arm answers unmatched requests.
    assert {d["subset"] for route in virtual["http"] for d in destinations(route)} == set(subsets)
    assert {e["destination"]["subset"] for e in virtual["http"][-1]["route"]} >= {"stable"}


def _check_arms(found: dict[str, Doc]) -> None:
    selector = found["Service/fraud-scorer"]["spec"]["selector"]
    subsets = found["DestinationRule/fraud-scorer"]["spec"]["subsets"]
    for track, alias in (("stable", "champion"), ("candidate", "challenger")):
        spec = found[f"Deployment/fraud-scorer-{track}"]["spec"]
        pods = spec["template"]["metadata"]["labels"]
        assert selects(spec["selector"]["matchLabels"], pods)
        assert spec["selector"]["matchLabels"][TRACK] == track
        assert selects(selector, pods)  # one Service over both arms
        assert [s["name"] for s in subsets if selects(s["labels"], pods)] == [track]
        assert pods["mlspec.dev/model-alias"] == alias
        env = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
        assert env["MODEL_ALIAS"] == alias
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow:5000"
    # CI pins the candidate; stable follows its alias, which the promotion after the rollout moves.
    candidate = found["Deployment/fraud-scorer-candidate"]["spec"]["template"]
    stable = found["Deployment/fraud-scorer-stable"]["spec"]["template"]
    assert candidate["metadata"]["labels"]["mlspec.dev/model-version"] == VERSION
    assert "mlspec.dev/model-version" not in stable["metadata"]["labels"]


def test_weight_splits_one_route() -> None:
    [route] = http_routes(text("ab_test-weight"))
    assert route["name"] == "primary"
    assert [(e["destination"]["subset"], e["weight"]) for e in route["route"]] == [
        ("stable", 80),
        ("candidate", 20),
    ]


def test_header_picks_the_candidate_first() -> None:
    candidate, primary = http_routes(text("ab_test-header"))
    assert candidate["name"] == "ab-candidate"
    assert candidate["match"] == [
        {"headers": {"x-user-group": {"regex": "^beta-(testers|staff)$"}}}
    ]
    assert [e["destination"]["subset"] for e in candidate["route"]] == ["candidate"]
    assert primary["name"] == "primary" and "match" not in primary
    assert [e["destination"]["subset"] for e in primary["route"]] == ["stable"]


@pytest.mark.parametrize("how", ["exact", "prefix"])
def test_header_exact_and_prefix_pass_through(how: str) -> None:
    spec = text("ab_test-header", header=f"      header: {{name: X-Beta, {how}: 'yes'}}\n")
    candidate, _ = http_routes(spec)
    assert candidate["match"] == [{"headers": {"x-beta": {how: "yes"}}}]
    assert validate_documents(list(objects(spec).values())) == []


def test_cookie_matches_the_pair_anywhere_in_the_cookie_header() -> None:
    candidate, _ = http_routes(text("ab_test-cookie"))
    regex = candidate["match"][0]["headers"]["cookie"]["regex"]
    assert regex == r"^(.*?;\s*)?(ab_group=beta\.1)(;.*)?$"
    # Envoy's RE2 matches the whole value; Python's re agrees on this RE2-compatible pattern.
    for header in ("ab_group=beta.1", "a=b; ab_group=beta.1", "a=b;ab_group=beta.1; c=d"):
        assert re.fullmatch(regex, header), header
    for header in ("ab_group=beta.10", "xab_group=beta.1", "ab_group=betaX1", "a=ab_group=beta.1"):
        assert not re.fullmatch(regex, header), header


def test_cookie_values_are_escaped_for_re2() -> None:
    regex = cookie_regex("group", "a+b (1)|#x")
    assert regex == r"^(.*?;\s*)?(group=a\+b \(1\)\|#x)(;.*)?$"
    assert "\\ " not in regex and "\\#" not in regex  # escapes RE2 rejects
    assert re.fullmatch(regex, "k=v; group=a+b (1)|#x")


def test_shadow_mirrors_a_share_of_stable_traffic() -> None:
    [route] = http_routes(text("shadow"))
    assert route["name"] == "primary"
    assert route["route"] == [{"destination": {"host": FQDN, "subset": "stable"}, "weight": 100}]
    assert route["mirror"] == {"host": FQDN, "subset": "candidate"}
    assert route["mirrorPercentage"] == {"value": 25.0}


def test_backend_writes_the_objects_in_apply_order_without_ignore_differences() -> None:
    r = release(text("ab_test-cookie"))
    files = backend.artifacts(r.pipeline)
    assert files == backend.artifacts(r.pipeline)
    assert [a.path for a in files] == [
        "deployment-fraud-scorer-candidate.yaml",
        "deployment-fraud-scorer-stable.yaml",
        "destinationrule-fraud-scorer.yaml",
        "kustomization.yaml",
        "service-fraud-scorer.yaml",
        "virtualservice-fraud-scorer.yaml",
    ]
    kustomization = next(a.text for a in files if a.path == "kustomization.yaml")
    listed = re.findall(r"^  - (\S+)$", kustomization, re.MULTILINE)
    assert listed == [
        "service-fraud-scorer.yaml",
        "destinationrule-fraud-scorer.yaml",
        "virtualservice-fraud-scorer.yaml",
        "deployment-fraud-scorer-candidate.yaml",
        "deployment-fraud-scorer-stable.yaml",
    ]


# --- what plain Istio does not do ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("shadow", "does not end the split after 2d or run the analysis (shadow_errors)"),
        ("ab_test-header", "does not end the split after 7d or run the analysis (error_rate)"),
        ("ab_test-weight", "does not end the split after 7d:"),
        ("ab_test-cookie", "does not end the split after 14d:"),
    ],
)
def test_a_warning_says_nothing_evaluates_the_split(name: str, message: str) -> None:
    spec = text(name)
    [d] = Istio().problems(release(spec))
    assert d.severity == "warning"
    assert message in d.message
    assert d.message.endswith("the split stays until the spec changes")
    assert d.hint is not None and "argo-rollouts or flagger" in d.hint
    strategy = "    shadow:" if name == "shadow" else "    ab_test:"
    assert d.span.line == line(spec, strategy)
    # A warning does not stop the manifests.
    assert backend.artifacts(release(spec).pipeline) != []


def test_the_stable_arm_needs_an_alias_promoted_after_the_rollout() -> None:
    spec = text("ab_test-weight", champion="")
    found = Istio().problems(release(spec))
    [d] = [d for d in found if d.severity == "error"]
    assert "after: [rollout]" in d.message
    assert d.hint is not None and "{alias: champion, after: [model_quality, rollout]}" in d.hint
    assert d.span.line == line(spec, "controller: istio")


def test_the_candidate_arm_needs_the_rollout_alias() -> None:
    spec = text("ab_test-weight", model_alias="")
    found = Istio().problems(release(spec))
    [d] = [d for d in found if d.severity == "error"]
    assert d.message == "the candidate arm serves rollout.model_alias, which is not set"
    assert d.span.line == line(spec, "controller: istio")


def test_both_arms_need_a_registry() -> None:
    spec = text("ab_test-weight", model_alias="")
    start = spec.index("registry:")
    spec = spec[:start] + spec[spec.index("rollout:") :]
    r = release(spec)
    assert r.pipeline.registry is None
    [d] = [d for d in Istio().problems(r) if d.severity == "error"]
    assert "no registry" in d.message
    assert d.span.line == line(spec, "controller: istio")
