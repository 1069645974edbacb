"""The rollout target, for every example and every strategy x controller pair in the matrix.

Cases are found by glob: the examples, the valid specs with a rollout the target supports, and
tests/rollout/matrix/<controller>--<strategy>.yaml (one per supported pair; a test keeps the
matrix complete). Each case is compiled with a pinned model version and storage URI, as CI
does, and every file is checked by its real consumer: custom resources against the published
CRDs (strict), core objects with kubernetes-validate, and the controllers' own rules. Snapshots
(one per case) are in __snapshots__/: update them with `pytest --snapshot-update`, read the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support import generated
from support.argo_rules import argo_rules
from support.controller_rules import flagger_rules
from support.crd_validation import validate_documents

from mlspec.backends.registry import find, targets
from mlspec.backends.rollout import base
from mlspec.backends.rollout.backend import RolloutBackend, artifacts, problems
from mlspec.backends.rollout.bandit import ARM_LABEL
from mlspec.backends.rollout.release import (
    ALIAS_LABEL,
    MODEL_LABEL,
    VERSION_LABEL,
    Release,
)
from mlspec.compiler import analyze_file
from mlspec.compiler.ir import Pipeline
from mlspec.compiler.passes import pin_model

ROOT = Path(__file__).resolve().parents[2]
MATRIX = sorted((ROOT / "tests" / "rollout" / "matrix").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
VERSION, STORAGE = "7", "s3://acme-models/fraud/7/artifacts/model"


def _supported(path: Path) -> bool:
    pipeline = analyze_file(path).pipeline
    return pipeline.rollout is not None and not [
        d for d in problems(pipeline, alone=True) if d.severity == "error"
    ]


VALID = [p for p in sorted((ROOT / "specs" / "valid").glob("*.yaml")) if _supported(p)]
CASES = [*EXAMPLES, *VALID, *MATRIX]


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def pinned(path: Path) -> Pipeline:
    return pin_model(analyze_file(_id(path)).pipeline, VERSION, STORAGE)


@pytest.fixture(scope="module", params=CASES, ids=_id)
def case(request: pytest.FixtureRequest) -> tuple[Pipeline, dict[str, str]]:
    pipeline = pinned(request.param)
    assert [d for d in problems(pipeline, alone=True) if d.severity == "error"] == []
    return pipeline, {a.path: a.text for a in artifacts(pipeline)}


def _documents(files: dict[str, str]) -> list[dict[str, Any]]:
    return [
        yaml.safe_load(text)
        for path, text in files.items()
        if path != "kustomization.yaml" and not path.startswith("argocd/")
    ]


def test_registered_as_the_rollout_target() -> None:
    assert isinstance(find("rollout").load(), RolloutBackend)  # type: ignore[union-attr]


def test_matrix_covers_every_supported_pair() -> None:
    expected = {
        f"{controller}--{kind.replace('/', '-')}.yaml"
        for controller, kinds in base.SUPPORT.items()
        for kind in kinds
    }
    assert {p.name for p in MATRIX} == expected


def test_snapshot(case: tuple[Pipeline, dict[str, str]], snapshot: object) -> None:
    assert case[1] == snapshot


def test_every_object_validates_strictly(case: tuple[Pipeline, dict[str, str]]) -> None:
    docs = _documents(case[1])
    assert docs
    assert validate_documents(docs) == []


def test_controller_rules(case: tuple[Pipeline, dict[str, str]]) -> None:
    docs = _documents(case[1])
    assert argo_rules(docs) == []
    for doc in docs:
        if doc["kind"] == "Canary":
            assert flagger_rules(doc, docs) == []


def test_folder_layout(case: tuple[Pipeline, dict[str, str]]) -> None:
    """One object per file named <kind>-<name>.yaml, every one in the kustomization once."""
    pipeline, files = case
    assert pipeline.rollout is not None
    docs = _documents(files)
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    objects = sorted(p for p in files if p != "kustomization.yaml" and "/" not in p)
    assert sorted(kustomization["resources"]) == objects
    assert kustomization["namespace"] == pipeline.rollout.service.namespace
    for path, doc in zip(objects, docs, strict=True):
        assert path == f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
        assert doc["metadata"]["namespace"] == pipeline.rollout.service.namespace
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlspec"
        assert list(doc)[:3] == ["apiVersion", "kind", "metadata"]


def _pod_labels(doc: dict[str, Any]) -> list[dict[str, str]]:
    """Labels of the pods that serve users (not those of mlspec's bandit controller)."""
    if doc["metadata"]["labels"].get("app.kubernetes.io/component") == "bandit-controller":
        return []
    if doc["kind"] in ("Deployment", "Rollout"):
        return [doc["spec"]["template"]["metadata"]["labels"]]
    if doc["kind"] == "InferenceService":
        return [doc["spec"]["predictor"]["labels"]]
    return []


def test_pods_carry_the_model_name_and_version(case: tuple[Pipeline, dict[str, str]]) -> None:
    pipeline, files = case
    pods = [labels for doc in _documents(files) for labels in _pod_labels(doc)]
    assert pods
    registered = pipeline.registry.registered_model  # type: ignore[union-attr]
    for labels in pods:
        if ARM_LABEL in labels and MODEL_LABEL not in labels:
            continue  # a bandit arm that serves an image, not a registry model
        assert labels[MODEL_LABEL] == registered
        assert ALIAS_LABEL in labels
    # The candidate is the pinned version; a stable arm (plain Istio) serves its alias.
    if pipeline.rollout.model_alias is not None:  # type: ignore[union-attr]
        assert any(labels.get(VERSION_LABEL) == VERSION for labels in pods)


def test_ignore_differences_name_emitted_objects(case: tuple[Pipeline, dict[str, str]]) -> None:
    files = case[1]
    if "argocd/ignore-differences.yaml" not in files:
        return
    fragment = yaml.safe_load(files["argocd/ignore-differences.yaml"])
    emitted = {(d["kind"], d["metadata"]["name"]) for d in _documents(files)}
    entries = fragment["spec"]["ignoreDifferences"]
    assert entries
    for entry in entries:
        assert (entry["kind"], entry["name"]) in emitted
        assert entry.get("jsonPointers") or entry.get("jqPathExpressions")
    assert "RespectIgnoreDifferences=true" in fragment["spec"]["syncPolicy"]["syncOptions"]


def test_unpinned_pods_load_the_alias() -> None:
    pipeline = analyze_file(EXAMPLES[0]).pipeline
    files = {a.path: a.text for a in artifacts(pipeline)}
    [rollout] = [d for d in _documents(files) if d["kind"] == "Rollout"]
    pod = rollout["spec"]["template"]
    assert VERSION_LABEL not in pod["metadata"]["labels"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["MODEL_URI"] == "models:/breast-cancer-classifier@challenger"


def test_release_reads_the_promotion_rules() -> None:
    pipeline = pinned(EXAMPLES[0])
    release = Release(pipeline, pipeline.rollout)  # type: ignore[arg-type]
    assert release.candidate is not None and release.candidate.uri.endswith("/7")
    assert release.stable is not None and release.stable.alias == "champion"


# -- through the CLI: beside every pipeline target, and alone (tests/test_determinism.py) ------


# Every target that runs a pipeline writes the manifests beside it.
@pytest.mark.parametrize("target", [n for n, t in targets().items() if t.engine is not None])
def test_pipeline_targets_write_the_same_manifests_under_rollout(
    tmp_path: Path, target: str
) -> None:
    spec = EXAMPLES[0]
    alone = generated.compile_in(tmp_path / "rollout", spec, "rollout")
    beside = generated.compile_in(tmp_path / target, spec, target)
    assert {
        p.removeprefix("rollout/"): b for p, b in beside.items() if p.startswith("rollout/")
    } == alone
