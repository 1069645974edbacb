"""The KServe controller: one InferenceService per supported strategy, valid against KServe's
CRD, and a diagnostic at the right line for everything KServe cannot do."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from support.crd_validation import validate_documents

from mlspec.backends.rollout import backend
from mlspec.backends.rollout.base import SUPPORT, variant
from mlspec.backends.rollout.k8s import to_yaml
from mlspec.backends.rollout.kserve import KServe
from mlspec.backends.rollout.release import Release
from mlspec.compiler import analyze_text, ir
from mlspec.diagnostics import Diagnostic

MATRIX = Path(__file__).parent / "matrix"
URI = "s3://bucket/1/abc/artifacts/model"
VERSION = "7"
MODE = "serving.kserve.io/deploymentMode"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


def text(name: str, **replace: str) -> str:
    """A matrix spec, with `old=new` pairs (keys are looked up in REPLACEMENTS) applied."""
    out = (MATRIX / f"kserve--{name}.yaml").read_text(encoding="utf-8")
    for old, new in replace.items():
        old = REPLACEMENTS.get(old, old)
        assert old in out, old
        out = out.replace(old, new)
    return out


REPLACEMENTS = {
    "steps": "        - weight: 10\n",
    "blue_green": "      auto_promote: false\n",
    "model_format": "    model_format: sklearn\n",
}
ANALYSIS = (
    "  analysis:\n"
    "    error_rate:\n"
    "      prometheus: {query: up, address: 'http://prometheus:9090'}\n"
    "      max: 0.01\n"
)


def pipeline(spec: str, uri: str | None = URI, version: str | None = VERSION) -> ir.Pipeline:
    p = analyze_text(spec, "spec.yaml").pipeline
    assert p.rollout is not None
    return dataclasses.replace(
        p, rollout=dataclasses.replace(p.rollout, model_uri=uri, model_version=version)
    )


def release(spec: str, uri: str | None = URI) -> Release:
    p = pipeline(spec, uri)
    assert p.rollout is not None
    return Release(p, p.rollout)


def line(spec: str, needle: str) -> int:
    """The 1-based line of the first line that contains `needle`."""
    return next(i for i, row in enumerate(spec.splitlines(), 1) if needle in row)


def errors(found: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in found if d.severity == "error"]


def isvc(spec: str) -> dict[str, Any]:
    [doc] = KServe().manifests(release(spec)).resources
    return doc


# --- every supported strategy -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(k.replace("/", "-") for k in SUPPORT["kserve"]))
def test_matrix_spec_compiles_to_a_valid_inference_service(name: str) -> None:
    spec = text(name)
    r = release(spec)
    assert variant(r.rollout) == name
    assert KServe().problems(r) == []
    manifests = KServe().manifests(r)
    assert manifests.ignore_differences == []
    [doc] = manifests.resources
    assert validate_documents(manifests.resources) == []
    assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]
    assert list(doc["metadata"]) == ["name", "namespace", "labels", "annotations"]
    assert (doc["kind"], doc["metadata"]["name"]) == ("InferenceService", "fraud-scorer")
    assert doc["metadata"]["namespace"] == "ml-serving"
    assert doc["metadata"]["labels"] == r.labels()
    assert doc["metadata"]["annotations"][MODE] == "Knative"
    predictor = doc["spec"]["predictor"]
    assert 0 <= predictor.get("canaryTrafficPercent", 0) <= 100
    assert predictor["model"]["storageUri"] == URI
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    # The pods carry the model's name, alias and pinned version: metrics split by revision.
    assert predictor["labels"] == {
        "mlspec.dev/model": "fraud-detector",
        "mlspec.dev/model-alias": "challenger",
        "mlspec.dev/model-version": VERSION,
    }


def test_canary_holds_its_one_weight() -> None:
    doc = isvc(text("canary"))
    predictor = doc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["minReplicas"] == 2
    assert predictor["model"]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    assert TAG_ROUTING not in doc["metadata"]["annotations"]


def test_the_service_port_is_the_predictor_container_port() -> None:
    spec = text("canary", **{"    port: 8080\n": "    port: 9000\n"})
    [doc] = KServe().manifests(release(spec)).resources
    assert doc["spec"]["predictor"]["model"]["ports"] == [
        {"containerPort": 9000, "protocol": "TCP"}
    ]
    assert validate_documents([doc]) == []  # KServe's CRD takes a container's ports here


def test_blue_green_preview_waits_at_zero_percent_behind_a_tag() -> None:
    doc = isvc(text("blue_green"))
    assert doc["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert doc["metadata"]["annotations"] == {MODE: "Knative", TAG_ROUTING: "true"}
    assert "resources" not in doc["spec"]["predictor"]["model"]


def test_blue_green_auto_promote_is_a_full_switch() -> None:
    spec = text("blue_green", blue_green="      auto_promote: true\n")
    r = release(spec)
    assert KServe().problems(r) == []
    [doc] = KServe().manifests(r).resources
    assert "canaryTrafficPercent" not in doc["spec"]["predictor"]
    assert doc["metadata"]["annotations"] == {MODE: "Knative"}
    assert validate_documents([doc]) == []


def test_an_unpinned_version_leaves_the_version_label_out() -> None:
    p = pipeline(text("canary"), version=None)
    assert p.rollout is not None
    [doc] = KServe().manifests(Release(p, p.rollout)).resources
    assert "mlspec.dev/model-version" not in doc["spec"]["predictor"]["labels"]


def test_output_is_deterministic_and_written_by_the_backend() -> None:
    spec = text("canary")
    first = backend.artifacts(pipeline(spec))
    assert first == backend.artifacts(pipeline(spec))
    assert [a.path for a in first] == ["inferenceservice-fraud-scorer.yaml", "kustomization.yaml"]
    assert first[0].text == to_yaml(isvc(spec))


# --- the storage URI ----------------------------------------------------------------------------


def test_without_a_model_uri_kserve_has_nothing_to_load() -> None:
    spec = text("canary")
    [d] = KServe().problems(release(spec, uri=None))
    assert d.severity == "error"
    assert d.message.startswith("KServe loads the model from storage: pass --model-uri")
    assert d.span.line == line(spec, "controller: kserve")
    assert d.hint is not None and "get_model_version_download_uri" in d.hint
    # Alone it blocks; beside a pipeline it is a warning and no rollout files are written.
    alone = backend.problems(pipeline(spec, uri=None), alone=True)
    assert [x.severity for x in alone] == ["error"]
    beside = backend.problems(pipeline(spec, uri=None), alone=False)
    assert [x.severity for x in beside] == ["warning"]
    assert backend.artifacts(pipeline(spec, uri=None)) == []


def test_a_registry_uri_cannot_be_loaded() -> None:
    spec = text("blue_green")
    [d] = KServe().problems(release(spec, uri="models:/fraud-detector/7"))
    assert d.severity == "error"
    assert "registry URI" in d.message
    assert d.span.line == line(spec, "controller: kserve")


# --- canaries KServe cannot run -----------------------------------------------------------------


def test_canary_steps_beyond_one_weight_are_each_refused() -> None:
    steps = (
        "        - weight: 10\n"
        "        - pause: 15m\n"
        "        - analysis: [error_rate]\n"
        "        - weight: 50\n"
        "      analysis: [error_rate]\n"
    )
    spec = text("canary", steps=steps) + ANALYSIS
    found = KServe().problems(release(spec))
    assert [(d.span.line, d.message) for d in found] == [
        (line(spec, "pause: 15m"), "KServe cannot run a canary pause"),
        (line(spec, "- analysis: [error_rate]"), "KServe cannot run a canary analysis step"),
        (
            line(spec, "weight: 50"),
            "KServe holds one canary percentage: a second weight step cannot run",
        ),
        (line(spec, "    canary:"), "KServe cannot run background analysis (error_rate)"),
    ]
    assert all(d.severity == "error" for d in found)
    assert all(d.hint is not None and "argo-rollouts" in d.hint for d in found)


@pytest.mark.parametrize(
    "steps",
    ["        - weight: 10\n        - weight: 100\n", "        - weight: 100\n"],
    ids=["final", "only"],
)
def test_a_weight_100_step_is_not_how_kserve_promotes(steps: str) -> None:
    spec = text("canary", steps=steps)
    [d] = KServe().problems(release(spec))
    assert d.severity == "error"
    assert "removing canaryTrafficPercent" in d.message
    assert d.span.line == line(spec, "weight: 100")


# --- blue/green KServe cannot run ---------------------------------------------------------------


def test_blue_green_promotion_analysis_and_delay_are_refused() -> None:
    blue_green = (
        "      auto_promote: true\n"
        "      auto_promote_after: 10m\n"
        "      pre_promotion_analysis: [error_rate]\n"
        "      post_promotion_analysis: [error_rate]\n"
    )
    spec = text("blue_green", blue_green=blue_green) + ANALYSIS
    found = KServe().problems(release(spec))
    assert [d.message for d in found] == [
        "KServe cannot run pre-promotion analysis (error_rate)",
        "KServe cannot run post-promotion analysis (error_rate)",
        "KServe cannot promote after a delay: it switches as soon as the new revision is "
        "ready (auto_promote: true) or when a commit says so",
    ]
    assert {d.span.line for d in found} == {line(spec, "    blue_green:")}
    assert all(d.severity == "error" for d in found)


def test_an_image_is_not_used_and_says_so() -> None:
    image = "    model_format: sklearn\n    image: ghcr.io/acme/fraud-scorer:1.0.0\n"
    spec = text("blue_green", model_format=image)
    [d] = KServe().problems(release(spec))
    assert d.severity == "warning"
    assert "service.image is not used" in d.message
    assert d.span.line == line(spec, "service:")
    assert errors(backend.problems(pipeline(spec), alone=True)) == []
