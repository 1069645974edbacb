"""The rollout target of a spec with environments: one GitOps tree, checked by its consumers.

`kubectl kustomize` (kustomize v5.5 on the machine image; Argo CD builds folders the same way)
builds the base and every overlay; what an overlay builds must be exactly the environment's
manifests compiled directly (`Analysis.for_environment`), every object valid against the
published CRDs (strict) and kubernetes-validate, and the Argo CD Applications against Argo CD's
CRD. Cases: tests/rollout/environments/canary.yaml (dev, staging, prod) and every spec of the
controller x strategy matrix with dev/staging/prod environments added, and every example that
declares environments.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from support import generated
from support.argo_rules import argo_rules
from support.controller_rules import flagger_rules
from support.crd_validation import validate_documents
from support.yaml_readers import load_all, typed

from mlspec.api import compile_gitops, gitops_environments
from mlspec.backends.rollout import environments
from mlspec.backends.rollout.backend import artifacts, render
from mlspec.backends.rollout.gitops import Repository, Source
from mlspec.cli import main
from mlspec.compiler import Analysis, analyze_file, analyze_text
from mlspec.compiler.passes import pin_model

HERE = Path(__file__).resolve().parent
SPEC = HERE / "environments" / "canary.yaml"
MATRIX = sorted((HERE / "matrix").glob("*.yaml"))
# Examples that declare environments (the flagship, once it does) are cases as they are.
EXAMPLES = [
    path
    for path in sorted((HERE.parents[1] / "examples").glob("*/pipeline.yaml"))
    if analyze_file(path).spec.environments and analyze_file(path).spec.rollout
]
VERSION, STORAGE = "7", "s3://acme-models/fraud/7/artifacts/model"
# A tag YAML 1.1 and go-yaml read as a number: it must reach Argo CD as text.
REPOSITORY = Repository("https://git.acme.io/platform/gitops.git", "1.10", "deploy/fraud")
ENVIRONMENTS = """
environments:
  dev:
    registry: {tracking_uri: http://mlflow.dev:5000}
    namespace: fraud-dev
    serving: {replicas: 1, resources: {cpu: 250m, memory: 512Mi}}
    prometheus: http://prometheus.dev-monitoring:9090
    deploy: {cluster: https://kubernetes.default.svc}
  staging:
    registry: {registered_model: fraud-detector-staging}
    namespace: fraud-staging
    images: {from: ghcr.io/acme, to: registry.staging.acme.io/acme}
    deploy: {cluster: https://kubernetes.default.svc}
  prod:
    registry: {tracking_uri: https://mlflow.prod.acme.io}
    namespace: fraud-prod
    images: {from: ghcr.io/acme, to: registry.prod.acme.io/acme}
    serving: {replicas: 6}
    promote_from: staging
    deploy: {cluster: https://prod.k8s.acme.io}
"""


def _analysis(path: Path) -> Analysis:
    if path not in MATRIX:
        return analyze_file(path)
    return analyze_text(path.read_text() + ENVIRONMENTS, path.name)


def _pin(pipeline: Any) -> Any:
    return pin_model(
        pipeline, VERSION, STORAGE if pipeline.rollout.controller == "kserve" else None
    )


def _tree(analysis: Analysis) -> dict[str, str]:
    bound, found = gitops_environments(analysis)
    assert [d for d in found if d.severity == "error"] == []
    files, found = environments.tree(analysis.pipeline, bound, REPOSITORY, _pin)
    assert [d for d in found if d.severity == "error"] == []
    return {f.path: f.text for f in files}


def _write(files: dict[str, str], root: Path) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    built = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc is not None]


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return doc["apiVersion"], doc["kind"], doc["metadata"]["name"]


def _compiled(analysis: Analysis, environment: str | None) -> list[dict[str, Any]]:
    bound = analysis if environment is None else analysis.for_environment(environment)
    rendered = render(_pin(bound.pipeline))
    assert rendered is not None
    return sorted(rendered[1].resources, key=_key)


@pytest.fixture(scope="module", params=[SPEC, *EXAMPLES, *MATRIX], ids=lambda p: p.name)
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    analysis = _analysis(request.param)
    files = _tree(analysis)
    return analysis, files, _write(files, tmp_path_factory.mktemp("tree"))


def test_every_overlay_builds_exactly_the_environments_manifests(case: Any) -> None:
    analysis, _, root = case
    assert sorted(_kustomize(root / "base"), key=_key) == _compiled(analysis, None)
    for name in analysis.spec.environments:
        built = sorted(_kustomize(root / "overlays" / name), key=_key)
        assert built == _compiled(analysis, name), name
        assert validate_documents(built) == []
        assert argo_rules(built) == []
        for doc in built:
            if doc["kind"] == "Canary":
                assert flagger_rules(doc, built) == []


def test_applications_sync_each_overlay_and_validate(case: Any) -> None:
    analysis, files, root = case
    apps = _kustomize(root / "argocd")
    assert validate_documents(apps) == []
    by_env = {app["metadata"]["labels"]["mlspec.dev/environment"]: app for app in apps}
    assert sorted(by_env) == sorted(analysis.spec.environments)
    for name, app in by_env.items():
        settings = analysis.spec.environments[name]
        bound = analysis.for_environment(name).pipeline
        spec = app["spec"]
        assert spec["source"] == {
            "repoURL": REPOSITORY.url,
            "targetRevision": "1.10",
            "path": f"deploy/fraud/overlays/{name}",
        }
        assert (root / "overlays" / name / "kustomization.yaml").is_file()
        assert spec["destination"] == {
            "server": settings.deploy.cluster,
            "namespace": bound.rollout.service.namespace,
        }
        # What the rollout target writes for one environment alone, now in its Application.
        alone = _single(analysis, name).get("argocd/ignore-differences.yaml")
        ignored = yaml.safe_load(alone)["spec"]["ignoreDifferences"] if alone else None
        assert spec.get("ignoreDifferences") == ignored
        assert spec["syncPolicy"]["syncOptions"] == ["RespectIgnoreDifferences=true"]
        # prod serves what staging proved: it syncs after the promotion, by hand.
        assert ("automated" in spec["syncPolicy"]) == (settings.promote_from is None)
    assert "argocd/ignore-differences.yaml" not in files  # it is in the Applications


def _single(analysis: Analysis, environment: str) -> dict[str, str]:
    return {a.path: a.text for a in artifacts(_pin(analysis.for_environment(environment).pipeline))}


def test_every_reader_reads_the_same_text(case: Any) -> None:
    """go-yaml (Argo CD), YAML 1.2 and YAML 1.1 readers agree on every file: text stays text."""
    for path, text in case[1].items():
        read = {reader: typed(docs) for reader, docs in load_all(text).items()}
        assert len(set(map(repr, read.values()))) == 1, (path, read)


def test_names_and_revisions_reach_argo_cd_as_text() -> None:
    """An environment named `on` (go-yaml v2 and YAML 1.1 read a boolean) and a tag `1.10`."""
    text = SPEC.read_text().replace("\n  dev:\n", "\n  'on':\n")
    files = _tree(analyze_text(text, "spec.yaml"))
    app = files["argocd/application-fraud-scorer-on.yaml"]
    for reader, [doc] in load_all(app).items():
        assert doc["metadata"]["labels"]["mlspec.dev/environment"] == "on", reader
        assert doc["spec"]["source"]["targetRevision"] == "1.10", reader
        assert doc["spec"]["source"]["path"] == "deploy/fraud/overlays/on", reader
    assert "overlays/on/kustomization.yaml" in files


def test_overlays_patch_exactly_what_each_environment_binds() -> None:
    files = _tree(analyze_file(SPEC))
    patches = {
        path: [(op["op"], op["path"]) for op in yaml.safe_load(text)]
        for path, text in files.items()
        if path.endswith(".patch.yaml")
    }
    container = "/spec/template/spec/containers/0"
    address = [("replace", "/spec/metrics/0/provider/prometheus/address")]
    assert patches == {
        # replicas, resources, the tracking URI (the spec has none), the Prometheus address of
        # the analysis without an address of its own (p95-latency has one: not patched)
        "overlays/dev/rollout-fraud-scorer.patch.yaml": [
            ("replace", "/spec/replicas"),
            ("add", f"{container}/env/-"),
            ("add", f"{container}/resources"),
        ],
        "overlays/dev/analysistemplate-fraud-scorer-error-rate.patch.yaml": address,
        "overlays/staging/rollout-fraud-scorer.patch.yaml": [
            ("replace", f"{container}/image"),
            ("add", f"{container}/env/-"),
        ],
        "overlays/prod/rollout-fraud-scorer.patch.yaml": [
            ("replace", "/spec/replicas"),
            ("replace", f"{container}/image"),
            ("add", f"{container}/env/-"),
            ("add", f"{container}/resources"),
        ],
        "overlays/prod/analysistemplate-fraud-scorer-error-rate.patch.yaml": address,
    }
    overlay = yaml.safe_load(files["overlays/prod/kustomization.yaml"])
    assert overlay["namespace"] == "fraud-prod"
    assert overlay["resources"] == ["../../base"]
    assert [p["target"] for p in overlay["patches"]] == [
        {
            "group": "argoproj.io",
            "version": "v1alpha1",
            "kind": "AnalysisTemplate",
            "name": "fraud-scorer-error-rate",
        },
        {"group": "argoproj.io", "version": "v1alpha1", "kind": "Rollout", "name": "fraud-scorer"},
    ]


GITOPS_FLAGS = [
    "--gitops-repo",
    REPOSITORY.url,
    "--gitops-revision",
    REPOSITORY.revision,
    "--gitops-path",
    REPOSITORY.path,
]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["compile", str(SPEC), "--target", "rollout", *args])


def test_compile_writes_the_tree_byte_for_byte_the_same(tmp_path: Path) -> None:
    """Two processes with other hash seeds, time zones, locales and folders; then --check."""
    args = ("--model-version", VERSION, *GITOPS_FLAGS)
    first = generated.compile_in(tmp_path / "a", SPEC, "rollout", *args, PYTHONHASHSEED="0")
    second = generated.compile_in(
        tmp_path / "b" / "else", SPEC, "rollout", *args, PYTHONHASHSEED="4242", TZ="Asia/Kolkata"
    )
    assert first == second
    assert first == {p: t.encode() for p, t in _tree(analyze_file(SPEC)).items()}
    checked = _cli("-o", str(tmp_path / "a" / "out"), *args, "--check")
    assert checked.exit_code == 0, checked.output


def test_compile_needs_the_repository_argo_cd_syncs_from(tmp_path: Path) -> None:
    result = _cli("-o", str(tmp_path / "out"), "--gitops-repo", REPOSITORY.url)
    assert result.exit_code == 2
    assert "also need --gitops-revision, --gitops-path" in result.output
    assert not (tmp_path / "out").exists()
    # Without them, the spec as written, as for any spec (the tree is asked for, not guessed).
    plain = _cli("-o", str(tmp_path / "plain"), "--model-version", VERSION)
    assert plain.exit_code == 0, plain.output
    assert (tmp_path / "plain" / "kustomization.yaml").is_file()
    assert not (tmp_path / "plain" / "overlays").exists()
    other = CliRunner().invoke(
        main,
        ["compile", str(MATRIX[0]), "-t", "rollout", "-o", str(tmp_path / "x"), *GITOPS_FLAGS],
    )
    assert other.exit_code == 2
    assert "apply to --target rollout of a spec with environments" in other.output


# --- what an overlay cannot say: refused at the environment, nothing written ---------------


def _refused(text: str) -> list[tuple[str, int, int]]:
    analysis = analyze_text(text, "spec.yaml")
    compiled = compile_gitops(analysis, REPOSITORY, model_version=VERSION)
    assert compiled.artifacts == ()
    return [(d.code, d.span.line, d.span.col) for d in compiled.diagnostics]


def _line(text: str, needle: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[nth - 1]


def test_an_environment_without_a_cluster_is_refused_at_it() -> None:
    text = SPEC.read_text().replace("    deploy: {cluster: https://staging.k8s.acme.io}\n", "")
    assert _refused(text) == [("MS288", _line(text, "  staging:"), 3)]
    text = SPEC.read_text().replace("{cluster: https://staging.k8s.acme.io}", "{}")
    assert _refused(text) == [("MS288", _line(text, "deploy: {}"), 5)]


def test_two_environments_in_one_namespace_of_one_cluster_are_refused() -> None:
    text = SPEC.read_text().replace("staging.k8s.acme.io", "dev.k8s.acme.io")
    text = text.replace("namespace: fraud-staging", "namespace: fraud-dev")
    assert _refused(text) == [("MS287", _line(text, "namespace: fraud-dev", 2), 5)]


def test_changed_objects_and_foreign_namespaces_are_refused() -> None:
    """No binding changes which objects there are today; the guard keeps a future one from
    writing an overlay that patches objects the base lacks."""
    analysis = analyze_file(SPEC)
    bound, _ = gitops_environments(analysis)
    settings = next(env for env in bound if env.name == "prod")
    base, prod = (_rendered(analysis, env) for env in (None, "prod"))
    prod.manifests.resources.append(_service("fraud-scorer-extra", "fraud-prod"))
    [moved] = environments._objects(settings, base, prod)
    assert (moved.code, moved.span.line) == ("MS285", _line(SPEC.read_text(), "  prod:"))
    assert "Service fraud-scorer-extra" in moved.message
    prod = _rendered(analysis, "prod")
    prod.manifests.resources[0]["metadata"]["namespace"] = "elsewhere"
    [outside] = environments._objects(settings, base, prod)
    assert (outside.code, outside.span.line) == (
        "MS286",
        _line(SPEC.read_text(), "namespace: fraud-prod"),
    )


def _rendered(analysis: Analysis, environment: str | None) -> environments.Rendered:
    bound = analysis if environment is None else analysis.for_environment(environment)
    rendered = render(_pin(bound.pipeline))
    assert rendered is not None
    return environments.Rendered(environment, *rendered)


def _service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
    }


def test_the_overlay_path_is_inside_the_given_folder() -> None:
    def path(folder: str) -> str:
        return Source(Repository(REPOSITORY.url, "main", folder), "overlays/dev").path

    assert path(".") == "overlays/dev"
    assert path("") == "overlays/dev"
    assert path("deploy/fraud/") == "deploy/fraud/overlays/dev"
