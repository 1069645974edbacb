"""GitOps glue: the order objects are applied in, and what Argo CD must leave to controllers."""

from __future__ import annotations

from mlspec.backends.rollout.k8s import Doc, document, file_name, to_yaml
from mlspec.backends.rollout.release import Release

IGNORE_DIFFERENCES_FILE = "argocd/ignore-differences.yaml"

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
    doc = document("kustomize.config.k8s.io/v1beta1", "Kustomization", "", None)
    del doc["metadata"]  # a Kustomization needs none; keeping it empty only adds noise
    doc["namespace"] = release.namespace
    doc["resources"] = [file_name(d) for d in docs]
    return doc


def ignore_differences_text(release: Release, entries: list[Doc]) -> str:
    """A fragment to merge into the Argo CD Application that syncs this folder."""
    header = (
        "# Merge into the Argo CD Application that syncs this folder: the rollout controller\n"
        f"# changes these fields of {release.name} at run time, and Argo CD must neither\n"
        "# report them as drift nor write them back. This file is not a Kubernetes object and\n"
        "# is not listed in kustomization.yaml.\n"
    )
    fragment = {
        "spec": {
            "ignoreDifferences": entries,
            "syncPolicy": {"syncOptions": ["RespectIgnoreDifferences=true"]},
        }
    }
    return header + to_yaml(fragment)
