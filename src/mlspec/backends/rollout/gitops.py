"""GitOps glue: the order objects are applied in, what Argo CD must leave to controllers, and
the kustomizations and Argo CD Applications of a tree with environments (environments.py)."""

from __future__ import annotations

from dataclasses import dataclass

from mlspec.backends.rollout.k8s import MANAGED_BY, Doc, document, file_name, to_yaml
from mlspec.backends.rollout.release import Release

IGNORE_DIFFERENCES_FILE = "argocd/ignore-differences.yaml"
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"
# Where Argo CD's Applications live in a standard install (and must, unless the install allows
# Applications in other namespaces); its built-in project, which every install has.
ARGOCD_NAMESPACE = "argocd"
ARGOCD_PROJECT = "default"
ENVIRONMENT_LABEL = "mlspec.dev/environment"
SYNC_OPTIONS = ["RespectIgnoreDifferences=true"]

# Things referenced come before what references them: templates before the Rollout or Canary
# that runs them, Services and routing before the workload that a controller wires into them.
_ORDER = (
    "ConfigMap",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "AnalysisTemplate",
    "MetricTemplate",
    "Service",
    "DestinationRule",
    "VirtualService",
    "Deployment",
    "Rollout",
    "Canary",
    "InferenceService",
)


def apply_order(docs: list[Doc]) -> list[Doc]:
    return sorted(docs, key=lambda d: (_ORDER.index(d["kind"]), d["metadata"]["name"]))


def kustomization(release: Release, docs: list[Doc]) -> Doc:
    return {
        "apiVersion": KUSTOMIZE,
        "kind": "Kustomization",  # no metadata: a Kustomization needs none
        "namespace": release.namespace,
        "resources": [file_name(d) for d in docs],
    }


def overlay(namespace: str, base: str, patches: list[Doc]) -> Doc:
    """An environment's kustomization: the base, moved to its namespace, patched."""
    doc: Doc = {"apiVersion": KUSTOMIZE, "kind": "Kustomization", "namespace": namespace}
    doc["resources"] = [base]
    if patches:
        doc["patches"] = patches
    return doc


def listing(files: list[str]) -> Doc:
    """A kustomization of objects as they are (`kubectl apply -k`, or an app of apps)."""
    return {"apiVersion": KUSTOMIZE, "kind": "Kustomization", "resources": files}


def target(doc: Doc) -> Doc:
    """The kustomize patch target that selects `doc` (the core group is no group)."""
    group, _, version = doc["apiVersion"].rpartition("/")
    selector: Doc = {"group": group} if group else {}
    selector |= {"version": version, "kind": doc["kind"], "name": doc["metadata"]["name"]}
    return selector


@dataclass(frozen=True)
class Repository:
    """The Git repository Argo CD reads the tree from; given to `compile`, never guessed."""

    url: str
    revision: str
    path: str  # the tree's folder in the repository ('.': its root)


@dataclass(frozen=True)
class Source:
    repository: Repository
    folder: str  # in the tree

    @property
    def path(self) -> str:
        root = self.repository.path.strip("/")
        return self.folder if root in ("", ".") else f"{root}/{self.folder}"


def application(
    release: Release,
    environment: str,
    ignore_differences: list[Doc],
    source: Source,
    *,
    cluster: str,
    automated: bool,
) -> Doc:
    """The Argo CD Application that syncs one environment's overlay. Environments that serve
    what another one proved (promote_from) sync by hand, after the promotion; the others sync
    on every commit."""
    name = f"{release.name}-{environment.replace('_', '-')}"
    labels = {
        "app.kubernetes.io/name": release.name,
        "app.kubernetes.io/part-of": release.pipeline.name,
        ENVIRONMENT_LABEL: environment,
    } | MANAGED_BY
    policy: Doc = {"automated": {"prune": True, "selfHeal": True}} if automated else {}
    policy["syncOptions"] = SYNC_OPTIONS
    spec: Doc = {
        "project": ARGOCD_PROJECT,
        "source": {
            "repoURL": source.repository.url,
            "targetRevision": source.repository.revision,
            "path": source.path,
        },
        "destination": {"server": cluster, "namespace": release.namespace},
    }
    if ignore_differences:
        spec["ignoreDifferences"] = ignore_differences
    spec["syncPolicy"] = policy
    return document(
        "argoproj.io/v1alpha1", "Application", name, ARGOCD_NAMESPACE, labels=labels, spec=spec
    )


def ignore_differences_text(release: Release, entries: list[Doc]) -> str:
    """A fragment to merge into the Argo CD Application that syncs this folder."""
    header = (
        "# Merge into the Argo CD Application that syncs this folder: the rollout controller\n"
        f"# changes these fields of {release.name} at run time, and Argo CD must neither\n"
        "# report them as drift nor write them back. This file is not a Kubernetes object and\n"
        "# is not listed in kustomization.yaml.\n"
    )
    fragment = {"spec": {"ignoreDifferences": entries, "syncPolicy": {"syncOptions": SYNC_OPTIONS}}}
    return header + to_yaml(fragment)
