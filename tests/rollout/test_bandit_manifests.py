"""Bandit rollouts on Istio: the objects fit together, and the controller may touch one object.

Strict CRD and core-schema validation, snapshots and determinism of these outputs are in
test_manifests.py (the matrix has istio--bandit and istio--contextual_bandit); this file checks
what is particular to bandits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlspec.backends.rollout.backend import artifacts, problems
from mlspec.backends.rollout.bandit import ARM_LABEL, bandit_config
from mlspec.backends.rollout.release import Release
from mlspec.bandit.config import STATE_ANNOTATION, Config
from mlspec.compiler import analyze_file, analyze_text

MATRIX = Path(__file__).parent / "matrix"
PLAIN = MATRIX / "istio--bandit.yaml"
CONTEXTUAL = MATRIX / "istio--contextual_bandit.yaml"


def _objects(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    files = artifacts(analyze_file(path).pipeline)
    docs = [yaml.safe_load(a.text) for a in files if a.path.count("/") == 0]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if "metadata" in d}


def _config(objects: dict[tuple[str, str], dict[str, Any]]) -> Config:
    return Config.from_json(objects["ConfigMap", "fraud-scorer-bandit"]["data"]["config.json"])


@pytest.mark.parametrize("path", [PLAIN, CONTEXTUAL], ids=lambda p: p.stem)
def test_the_role_grants_get_and_patch_on_the_one_virtual_service(path: Path) -> None:
    objects = _objects(path)
    role = objects["Role", "fraud-scorer-bandit"]
    assert role["rules"] == [
        {
            "apiGroups": ["networking.istio.io"],
            "resources": ["virtualservices"],
            "resourceNames": ["fraud-scorer"],
            "verbs": ["get", "patch"],
        }
    ]
    assert not [k for k in objects if k[0] in ("ClusterRole", "ClusterRoleBinding")]
    binding = objects["RoleBinding", "fraud-scorer-bandit"]
    assert binding["roleRef"]["name"] == "fraud-scorer-bandit"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "fraud-scorer-bandit", "namespace": "ml-serving"}
    ]
    pod = objects["Deployment", "fraud-scorer-bandit"]["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "fraud-scorer-bandit"


@pytest.mark.parametrize("path", [PLAIN, CONTEXTUAL], ids=lambda p: p.stem)
def test_routes_send_to_every_arm_with_an_equal_start(path: Path) -> None:
    objects = _objects(path)
    config = _config(objects)
    vs = objects["VirtualService", "fraud-scorer"]
    routes = {r["name"]: r for r in vs["spec"]["http"]}
    assert list(routes) == [config.route(s) for s in config.routes]
    for route in routes.values():
        hosts = [d["destination"]["host"] for d in route["route"]]
        assert sorted(hosts) == sorted(config.arms.values())
        weights = [d["weight"] for d in route["route"]]
        assert sum(weights) == 100
        assert max(weights) - min(weights) <= 1
        assert min(weights) >= config.exploration_floor
    # Every destination host is an emitted Service that selects exactly its arm's pods.
    for arm, host in config.arms.items():
        service = objects["Service", host.split(".")[0]]
        assert service["spec"]["selector"][ARM_LABEL] == arm
        deployment = objects["Deployment", host.split(".")[0]]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels[ARM_LABEL] == arm
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "MLSPEC_ARM", "value": arm} in env


def test_contextual_routes_match_the_header_exactly_and_default_comes_last() -> None:
    objects = _objects(CONTEXTUAL)
    http = objects["VirtualService", "fraud-scorer"]["spec"]["http"]
    assert [r["name"] for r in http] == ["segment-eu", "segment-us", "segment-apac", "default"]
    for route, segment in zip(http, ["eu", "us", "apac"], strict=False):
        assert route["match"] == [{"headers": {"x-region": {"exact": segment}}}]
    assert "match" not in http[-1]


def test_the_config_is_the_spec_and_a_new_config_restarts_the_controller() -> None:
    objects = _objects(PLAIN)
    text = objects["ConfigMap", "fraud-scorer-bandit"]["data"]["config.json"]
    config = Config.from_json(text)
    assert config.to_json() == text
    assert config.algorithm == "thompson"
    assert (config.exploration_floor, config.max_step, config.interval_seconds) == (5, 15, 300)
    assert config.stop_p_best == 0.95 and config.stop_max_duration_seconds == 14 * 86400
    [guardrail] = config.guardrails
    assert "$arm" in guardrail.query and guardrail.max == 0.02
    assert sorted(config.arms) == ["challenger", "incumbent", "rules_only"]
    pod = objects["Deployment", "fraud-scorer-bandit"]["spec"]["template"]
    annotation = pod["metadata"]["annotations"]["mlspec.dev/config-sha256"]
    assert annotation == hashlib.sha256(text.encode()).hexdigest()
    pipeline = analyze_file(PLAIN).pipeline
    assert bandit_config(Release(pipeline, pipeline.rollout)) == config  # type: ignore[arg-type]


def test_argo_cd_leaves_weights_and_state_to_the_controller() -> None:
    files = {a.path: a.text for a in artifacts(analyze_file(PLAIN).pipeline)}
    [entry] = yaml.safe_load(files["argocd/ignore-differences.yaml"])["spec"]["ignoreDifferences"]
    assert (entry["kind"], entry["name"]) == ("VirtualService", "fraud-scorer")
    assert entry["jqPathExpressions"] == [".spec.http[].route[].weight"]
    assert entry["jsonPointers"] == ["/metadata/annotations/" + STATE_ANNOTATION.replace("/", "~1")]


def _with(old: str, new: str) -> str:
    text = PLAIN.read_text()
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'query: sum(rate(http_errors_total{arm="$arm"}[5m])) / '
            'sum(rate(http_requests_total{arm="$arm"}[5m]))',
            "query: sum(rate(http_errors_total[5m]))",
            "guardrail 'error_rate' is checked per arm",
        ),
        (
            "name: fraud-scorer\n",
            f"name: fraud-scorer-{'x' * 44}\n",
            "longer than 63 characters",
        ),
    ],
    ids=["guardrail-without-arm", "long-arm-name"],
)
def test_problems(old: str, new: str, message: str) -> None:
    pipeline = analyze_text(_with(old, new), "spec.yaml").pipeline
    found = problems(pipeline, alone=True)
    assert [d.code for d in found] == ["MS301"], found
    assert message in found[0].message
    assert json.dumps(found[0].hint)  # has a hint that renders


@pytest.mark.parametrize("placeholder", ["${canary}", "${stable}"])
def test_a_guardrail_with_a_canary_placeholder_is_refused(placeholder: str) -> None:
    """The bandit controller fills `$arm` only: `${canary}` would reach Prometheus as text."""
    text = PLAIN.read_text(encoding="utf-8")
    old = 'http_errors_total{arm="$arm"}'
    assert old in text
    spec = text.replace(old, 'http_errors_total{arm="$arm",' + placeholder + "}", 1)
    [found] = [
        d
        for d in problems(analyze_text(spec, "spec.yaml").pipeline, alone=True)
        if d.code == "MS301"
    ]
    assert "does not fill in" in found.message and found.severity == "error"
    line = spec.splitlines().index("    error_rate:") + 1
    assert found.span.line == line
