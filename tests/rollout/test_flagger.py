"""The Flagger controller: a Deployment, a Canary and MetricTemplates, valid for Flagger.

Each supported strategy has a small spec in matrix/flagger--<variant>.yaml. Its manifests
must validate strictly against the published CRDs and core schemas and obey the rules Flagger
enforces at run time (tests/support/controller_rules.py); each limit of Flagger is a diagnostic
at the line of the spec that asks for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support.controller_rules import flagger_rules
from support.crd_validation import validate_documents
from support.yaml_readers import assert_reads_back

from mlspec.backends.rollout import backend, base, workload
from mlspec.backends.rollout.flagger import Flagger
from mlspec.backends.rollout.k8s import to_yaml
from mlspec.backends.rollout.matching import cookie_regex
from mlspec.backends.rollout.release import Release
from mlspec.compiler import analyze_text
from mlspec.diagnostics import Diagnostic

MATRIX = Path(__file__).parent / "matrix"
VARIANTS = ("canary", "blue_green", "shadow", "ab_test-header", "ab_test-cookie")
NAME, NAMESPACE = "fraud-scorer", "ml-serving"


def matrix_text(variant: str) -> str:
    return (MATRIX / f"flagger--{variant}.yaml").read_text(encoding="utf-8")


def release_of(text: str) -> Release:
    pipeline = analyze_text(text, "spec.yaml").pipeline
    assert pipeline.rollout is not None
    return Release(pipeline, pipeline.rollout)


def manifests(text: str) -> list[dict[str, Any]]:
    release = release_of(text)
    assert Flagger().problems(release) == []
    return Flagger().manifests(release).resources


def the(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def problems(text: str) -> list[Diagnostic]:
    return Flagger().problems(release_of(text))


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line that contains `needle`."""
    [line] = [i for i, text_line in enumerate(text.splitlines(), 1) if needle in text_line]
    return line


def with_strategy(variant: str, strategy: str, analysis: str | None = None) -> str:
    """The matrix spec of `variant` with its strategy block (and analysis block) replaced."""
    text = matrix_text(variant)
    head, _, rest = text.partition("  strategy:\n")
    _, _, old_analysis = rest.partition("  analysis:\n")
    return f"{head}  strategy:\n{strategy}  analysis:\n{analysis or old_analysis}"


# --- Every strategy: valid for the CRDs and for Flagger -------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_matrix_spec_validates_strictly_and_follows_flagger_rules(variant: str) -> None:
    docs = manifests(matrix_text(variant))
    assert validate_documents(docs) == []
    assert flagger_rules(the(docs, "Canary"), docs) == []
    # What Flagger does not create itself, and nothing else; every matrix spec has metrics.
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Deployment", *["MetricTemplate"] * (len(kinds) - 2), "Canary"]
    assert len(kinds) > 2
    assert all(d["metadata"]["namespace"] == NAMESPACE for d in docs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_yaml_round_trips_and_is_deterministic(variant: str) -> None:
    text = matrix_text(variant)
    first = [to_yaml(d) for d in manifests(text)]
    assert first == [to_yaml(d) for d in manifests(text)]
    for yaml_text, document in zip(first, manifests(text), strict=True):
        assert_reads_back(yaml_text, [document])  # YAML 1.1, YAML 1.2 and go-yaml v2 alike


def test_canary_keys_are_in_kubernetes_order() -> None:
    canary = the(manifests(matrix_text("canary")), "Canary")
    assert list(canary) == ["apiVersion", "kind", "metadata", "spec"]
    assert list(canary["spec"]) == ["provider", "targetRef", "service", "analysis"]
    assert list(canary["spec"]["analysis"]) == [
        *("interval", "threshold", "stepWeights", "metrics", "webhooks")
    ]


def test_target_deployment_and_canary_reference() -> None:
    release = release_of(matrix_text("canary"))
    docs = Flagger().manifests(release).resources
    assert the(docs, "Deployment") == workload.deployment(release, NAME, release.candidate)
    spec = the(docs, "Canary")["spec"]
    assert spec["provider"] == "istio"
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME}
    # The Service forwards to the container port by its name.
    assert spec["service"] == {"port": 8080, "targetPort": workload.PORT_NAME}
    assert the(docs, "Canary")["metadata"]["labels"] == release.labels()


def test_argo_cd_ignores_the_replicas_flagger_scales_to_zero() -> None:
    result = Flagger().manifests(release_of(matrix_text("shadow")))
    assert result.ignore_differences == [
        base.ignore("apps", "Deployment", NAME, NAMESPACE, jsonPointers=["/spec/replicas"])
    ]


def test_through_the_backend_with_the_ignore_differences_file() -> None:
    pipeline = release_of(matrix_text("ab_test-header")).pipeline
    # the metric's count (10 is not used) and its no_data (inconclusive, the default)
    count, no_data = backend.problems(pipeline, alone=True)
    assert {(d.code, d.severity) for d in (count, no_data)} == {("MS302", "warning")}
    assert "its count is not used outside blue_green" in count.message
    assert "cannot pause for a person" in no_data.message
    files = {a.path: a.text for a in backend.artifacts(pipeline)}
    assert set(files) >= {
        "canary-fraud-scorer.yaml",
        "deployment-fraud-scorer.yaml",
        "metrictemplate-fraud-scorer-error-rate.yaml",
        "kustomization.yaml",
        "argocd/ignore-differences.yaml",
    }
    assert "/spec/replicas" in files["argocd/ignore-differences.yaml"]


# --- Mapping of each strategy --------------------------------------------------------------


def test_canary_step_weights_interval_threshold_and_metrics() -> None:
    docs = manifests(matrix_text("canary"))
    analysis = the(docs, "Canary")["spec"]["analysis"]
    # Steps 5, 25, 75, 100: Flagger promotes after the last step, so 100 is not a step.
    assert analysis["stepWeights"] == [5, 25, 75]
    assert analysis["interval"] == "10m"  # the pauses between weights
    assert analysis["threshold"] == 1  # p95_latency tolerates no failure (failure_limit 0)
    # Background analysis first, then the steps' analysis; each metric once.
    assert [m["name"] for m in analysis["metrics"]] == ["error_rate", "p95_latency"]
    assert analysis["metrics"][1] == {
        "name": "p95_latency",
        "templateRef": {"name": "fraud-scorer-p95-latency", "namespace": NAMESPACE},
        "thresholdRange": {"max": 0.3},
        "interval": "30s",
    }
    template = the([d for d in docs if d["metadata"]["name"].endswith("latency")], "MetricTemplate")
    assert template["spec"]["provider"] == {
        "type": "prometheus",
        "address": "http://prometheus-latency.monitoring:9090",
    }
    assert template["spec"]["query"].startswith("histogram_quantile(0.95,")


def test_canary_without_pauses_checks_on_the_shortest_metric_interval() -> None:
    text = with_strategy(
        "canary",
        "    canary:\n"
        "      steps: [{weight: 20}, {analysis: [p95_latency]}, {weight: 60}]\n"
        "      analysis: [error_rate]\n",
    )
    analysis = the(manifests(text), "Canary")["spec"]["analysis"]
    assert analysis["stepWeights"] == [20, 60]
    assert analysis["interval"] == "30s"


def test_canary_without_metrics_or_pauses_uses_defaults() -> None:
    text = with_strategy(
        "canary",
        "    canary:\n      steps: [{weight: 100}]\n",
        "    unused:\n      web: {url: 'http://x.ml:80/m', json_path: '{$.v}'}\n      max: 1\n",
    )
    docs = manifests(text)
    analysis = the(docs, "Canary")["spec"]["analysis"]
    # A lone 100 stays: Flagger needs a step. No metrics: no MetricTemplate, none listed.
    assert analysis == {"interval": "1m", "threshold": 1, "stepWeights": [100]}
    assert [d["kind"] for d in docs] == ["Deployment", "Canary"]
    assert validate_documents(docs) == []
    assert flagger_rules(the(docs, "Canary"), docs) == []


def test_hours_are_written_in_minutes_for_the_crd_pattern() -> None:
    text = with_strategy(
        "canary",
        "    canary:\n      steps: [{weight: 50}, {pause: 1h}]\n      analysis: [error_rate]\n",
        "    error_rate:\n"
        "      prometheus: {query: sum(errors)}\n"
        "      max: 1\n"
        "      interval: 2h\n",
    )
    docs = manifests(text)
    analysis = the(docs, "Canary")["spec"]["analysis"]
    assert analysis["interval"] == "60m"
    assert analysis["metrics"][0]["interval"] == "120m"
    assert validate_documents(docs) == []


def test_blue_green_iterations_from_auto_promote_after() -> None:
    analysis = the(manifests(matrix_text("blue_green")), "Canary")["spec"]["analysis"]
    assert analysis == {
        "interval": "1m",
        "threshold": 3,
        "iterations": 20,  # 20m / 1m
        "metrics": analysis["metrics"],
    }
    assert [m["name"] for m in analysis["metrics"]] == ["error_rate"]


def test_blue_green_iterations_round_up_and_fall_back_to_the_metric_count() -> None:
    bounded = with_strategy(
        "blue_green",
        "    blue_green:\n"
        "      auto_promote: true\n"
        "      auto_promote_after: 150s\n"
        "      pre_promotion_analysis: [error_rate]\n",
    )
    assert the(manifests(bounded), "Canary")["spec"]["analysis"]["iterations"] == 3
    counted = with_strategy(
        "blue_green",
        "    blue_green:\n      auto_promote: true\n      pre_promotion_analysis: [error_rate]\n",
    )
    assert the(manifests(counted), "Canary")["spec"]["analysis"]["iterations"] == 10
    bare = with_strategy("blue_green", "    blue_green:\n      auto_promote: true\n")
    analysis = the(manifests(bare), "Canary")["spec"]["analysis"]
    assert analysis == {"interval": "1m", "threshold": 1, "iterations": 1}


def test_shadow_mirrors_the_percentage() -> None:
    analysis = the(manifests(matrix_text("shadow")), "Canary")["spec"]["analysis"]
    assert {k: analysis[k] for k in ("interval", "iterations", "mirror", "mirrorWeight")} == {
        "interval": "5m",
        "iterations": 24,  # 2h / 5m
        "mirror": True,
        "mirrorWeight": 25,
    }
    assert "match" not in analysis


def test_ab_test_header_match_is_lower_case() -> None:
    analysis = the(manifests(matrix_text("ab_test-header")), "Canary")["spec"]["analysis"]
    assert analysis["iterations"] == 1440  # 1d / 1m
    assert analysis["match"] == [{"headers": {"x-user-group": {"regex": "^beta-(testers|staff)$"}}}]
    for how in ("exact", "prefix"):
        text = with_strategy(
            "ab_test-header",
            f"    ab_test:\n      header: {{name: X-Beta, {how}: 'yes'}}\n      duration: 1h\n",
        )
        analysis = the(manifests(text), "Canary")["spec"]["analysis"]
        assert analysis["match"] == [{"headers": {"x-beta": {how: "yes"}}}]
        assert analysis["iterations"] == 60


def test_ab_test_cookie_matches_the_cookie_among_others() -> None:
    analysis = the(manifests(matrix_text("ab_test-cookie")), "Canary")["spec"]["analysis"]
    [match] = analysis["match"]
    pattern = match["headers"]["cookie"]["regex"]
    assert pattern == cookie_regex("fraud-arm", "beta.v2+eu")
    # As browsers send it (RFC 6265: '; ' between cookies), and without the spaces.
    for header in (
        "fraud-arm=beta.v2+eu",
        "a=1; fraud-arm=beta.v2+eu",
        "a=1;fraud-arm=beta.v2+eu; b=2",
        "a=1; c=3; fraud-arm=beta.v2+eu;b=2",
    ):
        assert re.fullmatch(pattern, header), header
    # Escaped: '.' and '+' are literal, and the name must match as a whole cookie name.
    for header in (
        "fraud-arm=betaXv2+eu",
        "fraud-arm=beta.v22eu",
        "xfraud-arm=beta.v2+eu",
        "a=1; xfraud-arm=beta.v2+eu",
        "fraud-arm=beta.v2+eux",
    ):
        assert not re.fullmatch(pattern, header), header


@pytest.mark.parametrize(
    "value", ["a.b", "x+y*z", "v(1)|[2]", "^$?{3}", "sp ace", "tab\t", "ü-ß~#&"]
)
def test_cookie_regex_escapes_only_what_re2_reads_literally(value: str) -> None:
    pattern = cookie_regex("my_cookie-1", value)
    inner = pattern[len(r"^(.*?;\s*)?(") : -len(")(;.*)?$")]
    # RE2 (Envoy) and Go's regexp take a backslash before any ASCII punctuation or space as
    # that character; before a letter or digit it is a class or an error. Python escapes
    # only ASCII punctuation and whitespace, never a letter, digit or non-ASCII character.
    escaped = re.findall(r"\\(.)", inner, flags=re.DOTALL)
    assert all(c.isascii() and not c.isalnum() for c in escaped), escaped
    assert re.fullmatch(pattern, f"my_cookie-1={value}")


# --- What Flagger cannot do: a diagnostic at the line that asks for it ------------------------


def test_unequal_pauses_are_reported_at_the_first_different_pause() -> None:
    text = with_strategy(
        "canary",
        "    canary:\n"
        "      steps:\n"
        "        - weight: 10\n"
        "        - pause: 10m\n"
        "        - weight: 20\n"
        "        - pause: 600s\n"
        "        - weight: 40\n"
        "        - pause: 30m\n"
        "        - weight: 80\n"
        "        - pause: 1h\n",
    )
    [problem] = problems(text)
    assert problem.span.line == line_of(text, "pause: 30m")
    assert problem.code == base.NOT_EXPRESSIBLE and problem.severity == "error"
    assert "one fixed interval" in problem.message and "30m" in problem.message
    assert problem.hint is not None and "argo-rollouts" in problem.hint


def test_manual_pause_is_reported() -> None:
    text = with_strategy(
        "canary",
        "    canary:\n"
        "      steps:\n"
        "        - weight: 10\n"
        "        - pause: 5m\n"
        "        - weight: 50\n"
        "        - pause: manual\n",
    )
    [problem] = problems(text)
    assert problem.span.line == line_of(text, "pause: manual")
    assert "manual promotion" in problem.message
    assert problem.hint is not None and "argo-rollouts" in problem.hint


def test_blue_green_without_auto_promotion_is_reported() -> None:
    text = with_strategy(
        "blue_green", "    blue_green:\n      pre_promotion_analysis: [error_rate]\n"
    )
    [problem] = problems(text)
    assert problem.span.line == line_of(text, "blue_green:")
    assert "manual promotion" in problem.message
    assert problem.hint is not None
    assert "auto_promote: true" in problem.hint and "argo-rollouts" in problem.hint


def test_post_promotion_analysis_is_reported() -> None:
    text = with_strategy(
        "blue_green",
        "    blue_green:\n      auto_promote: true\n      post_promotion_analysis: [error_rate]\n",
    )
    [problem] = problems(text)
    assert problem.span.line == line_of(text, "blue_green:")
    assert "post_promotion_analysis" in problem.message


def test_web_metric_is_reported_where_it_is_declared() -> None:
    text = with_strategy(
        "shadow",
        "    shadow:\n      percent: 10\n      duration: 1h\n      analysis: [health]\n",
        "    health:\n"
        "      web: {url: 'http://fraud-scorer-canary.ml-serving:8080/m', json_path: '{$.err}'}\n"
        "      max: 0.1\n",
    )
    [problem] = problems(text)
    assert problem.span.line == line_of(text, "    health:")
    assert "'health' is a web check" in problem.message
    assert problem.hint is not None and "argo-rollouts" in problem.hint


def test_unused_web_metric_is_not_reported() -> None:
    text = with_strategy(
        "shadow",
        "    shadow:\n      percent: 10\n      duration: 1h\n",
        "    health:\n      web: {url: 'http://x.ml:80/m', json_path: '{$.err}'}\n      max: 0.1\n",
    )
    assert problems(text) == []


def test_metric_template_names_are_kubernetes_names() -> None:
    query = "      prometheus: {query: sum(errors)}\n      max: 1\n"
    text = with_strategy(
        "ab_test-header",
        "    ab_test:\n"
        "      header: {name: X-Beta, exact: 'yes'}\n"
        "      duration: 1h\n"
        "      analysis: [error__rate_, p99]\n",
        f"    error__rate_:\n{query}    p99:\n{query}",
    )
    docs = manifests(text)
    # '_' runs become one '-', none at the end: the form the checker keeps unique (MS221).
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "MetricTemplate"]
    assert names == ["fraud-scorer-error-rate", "fraud-scorer-p99"]
    assert validate_documents(docs) == []
    assert flagger_rules(the(docs, "Canary"), docs) == []


def test_every_problem_is_reported_together() -> None:
    text = with_strategy(
        "blue_green",
        "    blue_green:\n"
        "      pre_promotion_analysis: [health]\n"
        "      post_promotion_analysis: [health]\n",
        "    health:\n      web: {url: 'http://x.ml:80/m', json_path: '{$.err}'}\n      max: 0.1\n",
    )
    lines = sorted(p.span.line for p in problems(text))
    strategy, metric = line_of(text, "blue_green:"), line_of(text, "    health:")
    assert lines == [strategy, strategy, metric]


# --- The rules themselves catch what they are meant to catch --------------------------------


def test_flagger_rules_reject_broken_canaries() -> None:
    docs = manifests(matrix_text("canary"))
    canary = the(docs, "Canary")
    analysis = canary["spec"]["analysis"]

    def broken(**changes: Any) -> list[str]:
        spec = {**canary["spec"], "analysis": {**analysis, **changes}}
        return flagger_rules({**canary, "spec": spec}, docs)

    assert broken(iterations=3) == [
        "spec.analysis: needs exactly one of iterations, stepWeight, stepWeights"
    ]
    assert broken(stepWeights=[5, 75, 25]) == [
        "spec.analysis.stepWeights: [5, 75, 25] does not rise strictly"
    ]
    assert broken(stepWeights=[0, 120]) == [
        "spec.analysis.stepWeights: [0, 120] not all within 1..100"
    ]
    assert broken(match=[{"headers": {"x": {"exact": "y"}}}]) == [
        "spec.analysis.match: A/B testing needs iterations"
    ]
    assert broken(mirrorWeight=10) == ["spec.analysis.mirrorWeight: only applies with mirror: true"]
    assert broken(threshold=0) == ["spec.analysis.threshold: must be at least 1"]
    assert flagger_rules(canary, [d for d in docs if d["kind"] != "MetricTemplate"]) == [
        "spec.analysis.metrics[0].templateRef: no MetricTemplate 'fraud-scorer-error-rate' "
        "is emitted",
        "spec.analysis.metrics[1].templateRef: no MetricTemplate 'fraud-scorer-p95-latency' "
        "is emitted",
    ]
