"""The rollout back end: the Kubernetes manifests that take a registered model to users.

Every pipeline target writes them under `rollout/` beside the pipeline file; `--target
rollout` writes them alone. One file per object (`<kind>-<name>.yaml`), a kustomization.yaml
listing them in apply order, and `argocd/ignore-differences.yaml`: the entries to merge into
the Argo CD Application so that Argo CD and the controller do not fight over fields the
controller changes at run time. A spec with environments compiles to one GitOps tree instead
(a base, an overlay per environment, Argo CD Applications): environments.py.
"""

from __future__ import annotations

import importlib
import re
from typing import ClassVar

from mlspec.backends import support
from mlspec.backends.base import Artifact
from mlspec.backends.rollout import base, gitops
from mlspec.backends.rollout.k8s import Doc, file_name, to_yaml
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

_IMPLEMENTATIONS = {
    "argo-rollouts": "mlspec.backends.rollout.argo:ArgoRollouts",
    "flagger": "mlspec.backends.rollout.flagger:Flagger",
    "kserve": "mlspec.backends.rollout.kserve:KServe",
    "istio": "mlspec.backends.rollout.istio:Istio",
}
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def controller(rollout: ir.Rollout) -> base.Controller:
    if isinstance(rollout.strategy, ir.Bandit):  # only istio gets here (base.SUPPORT)
        location = "mlspec.backends.rollout.bandit:BanditController"
    else:
        location = _IMPLEMENTATIONS[rollout.controller]
    module, _, attr = location.partition(":")
    implementation: type[base.Controller] = getattr(importlib.import_module(module), attr)
    return implementation()


def problems(pipeline: ir.Pipeline, *, alone: bool) -> list[Diagnostic]:
    """Why the manifests cannot be written. Beside a pipeline (`alone` False), reasons that
    only concern the rollout are warnings: the pipeline is still written, without `rollout/`."""
    rollout = pipeline.rollout
    if rollout is None:
        if alone and pipeline.monitor is not None:
            watched = pipeline.monitor.model.pipeline
            return [
                base.error(
                    pipeline.span,
                    f"a Monitor spec has nothing to roll out: it watches what {watched!r} serves",
                    "compile it for kubeflow, airflow or prefect; the model's rollout is in the "
                    f"spec of {watched!r}",
                )
            ]
        if alone:
            return [
                base.error(
                    pipeline.span,
                    "the spec has no rollout section, so there is nothing to roll out",
                    "add a 'rollout:' section, or compile for a pipeline target",
                )
            ]
        return []
    found = _blocking(Release(pipeline, rollout))
    if alone:
        return found
    return [_as_warning(d) for d in found]


def _blocking(release: Release) -> list[Diagnostic]:
    rollout = release.rollout
    kind = base.variant(rollout)
    if kind not in base.SUPPORT[rollout.controller]:
        able = base.controllers_for(kind)
        return [
            base.error(
                rollout.strategy.span,
                f"rollout controller {rollout.controller!r} cannot run {base.described(kind)}",
                f"controllers that can: {', '.join(able)}"
                + (" (steered by mlspec's bandit controller)" if "bandit" in kind else ""),
            )
        ]
    found = _label_problems(release)
    found += controller(rollout).problems(release)
    found += support.problems(rollout.controller, release.pipeline)
    return found


def _label_problems(release: Release) -> list[Diagnostic]:
    registry = release.pipeline.registry
    if registry is None or release.candidate is None:
        return []
    if _LABEL_VALUE.fullmatch(registry.registered_model) and len(registry.registered_model) <= 63:
        return []
    return [
        base.error(
            registry.span,
            f"registered model name {registry.registered_model!r} cannot be a Kubernetes label "
            "value, which the serving pods carry",
            "at most 63 characters: letters, digits, '-', '_' and '.', starting and ending "
            "with a letter or digit",
        )
    ]


def _as_warning(d: Diagnostic) -> Diagnostic:
    if d.severity == "warning":
        return d
    return base.warning(
        d.span,
        f"{d.message}; the rollout manifests are not written",
        d.hint,
    )


def artifacts(pipeline: ir.Pipeline, folder: str = "") -> list[Artifact]:
    """The manifest files under `folder`; none if the spec has no rollout or it cannot be
    written (then `problems` said why)."""
    rendered = render(pipeline)
    if rendered is None:
        return []
    release, manifests = rendered
    files = object_files(release, manifests.resources, folder)
    if manifests.ignore_differences:
        files.append(
            Artifact(
                folder + gitops.IGNORE_DIFFERENCES_FILE,
                gitops.ignore_differences_text(release, manifests.ignore_differences),
            )
        )
    return sorted(files)


def object_files(release: Release, docs: list[Doc], folder: str) -> list[Artifact]:
    """One file per object, and the kustomization.yaml that lists them."""
    files = [Artifact(folder + file_name(doc), to_yaml(doc)) for doc in docs]
    kustomization = gitops.kustomization(release, docs)
    return [*files, Artifact(folder + "kustomization.yaml", to_yaml(kustomization))]


def render(pipeline: ir.Pipeline) -> tuple[Release, base.Manifests] | None:
    """The manifests' objects in apply order; None if the spec has no rollout or it cannot be
    written (then `problems` said why)."""
    rollout = pipeline.rollout
    if rollout is None or any(d.severity == "error" for d in _blocking(Release(pipeline, rollout))):
        return None
    release = Release(pipeline, rollout)
    manifests = controller(rollout).manifests(release)
    return release, base.Manifests(
        gitops.apply_order(manifests.resources), manifests.ignore_differences
    )


FOLDER = "rollout/"


def beside_pipeline(pipeline: ir.Pipeline) -> list[Artifact]:
    """What a pipeline target adds to its output: the manifests under `rollout/`."""
    return artifacts(pipeline, FOLDER)


def beside_pipeline_problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    return problems(pipeline, alone=False)


class RolloutBackend:
    name: ClassVar[str] = "rollout"
    description: ClassVar[str] = "Kubernetes rollout manifests only"

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        return problems(pipeline, alone=True)

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        return artifacts(pipeline)
