"""The GitOps tree of a spec with environments (`mlspec compile --target rollout`, every one).

    base/              the spec as written: its manifests and their kustomization.yaml
    overlays/<env>/    kustomization.yaml (resources: [../../base], the environment's
                       namespace, its patches) and a JSON patch per object the environment changes
    argocd/            an Argo CD Application per environment, and a kustomization.yaml of them

An overlay is computed, never written by hand: it is the difference between the base objects and
the objects compiled for the environment (`Analysis.for_environment`), so everything an
environment binds reaches its overlay and nothing else does. What an overlay cannot say is
refused at the environment's line (MS285-MS288) rather than written wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from mlspec.backends import yamlout
from mlspec.backends.base import Artifact
from mlspec.backends.rollout import backend, gitops, patches
from mlspec.backends.rollout.base import Manifests
from mlspec.backends.rollout.k8s import Doc, file_name, to_yaml
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Span

OBJECTS_DIFFER = "MS285"
OUTSIDE_NAMESPACE = "MS286"
SHARED_NAMESPACE = "MS287"
NO_CLUSTER = "MS288"

BASE = "base/"
ARGOCD = "argocd/"


@dataclass(frozen=True)
class Environment:
    """One environment as the tree needs it (api.compile_gitops reads it from the spec)."""

    name: str
    pipeline: ir.Pipeline  # the spec bound to it
    cluster: str | None  # deploy.cluster: the Argo CD Application's destination
    automated: bool  # synced by Argo CD on its own; False: it serves what another proved
    # Where diagnostics about it point: its key (""), and its `deploy` and `namespace` keys
    # (each the environment's key when it does not set them).
    spans: dict[str, Span]


@dataclass(frozen=True)
class Rendered:
    """One environment's manifests (or the base's: environment None)."""

    environment: str | None
    release: Release
    manifests: Manifests


def tree(
    base_pipeline: ir.Pipeline,
    bound: list[Environment],
    repository: gitops.Repository,
    prepare: Callable[[ir.Pipeline], ir.Pipeline],
) -> tuple[list[Artifact], list[Diagnostic]]:
    """The tree's files (none if there are errors) and the diagnostics. `prepare` is applied to
    every environment's pipeline and the base's (the model pin that `compile` was given)."""
    found: list[Diagnostic] = []
    rendered: list[Rendered] = []
    settings = {env.name: env for env in bound}
    for name, pipeline in [(None, base_pipeline), *((e.name, e.pipeline) for e in bound)]:
        pipeline = prepare(pipeline)
        found += backend.problems(pipeline, alone=True)
        manifests = backend.render(pipeline)
        if manifests is not None:
            rendered.append(Rendered(name, *manifests))
    found = list(dict.fromkeys(found))  # the environments repeat the base's warnings
    if any(d.severity == "error" for d in found):
        return [], found
    base, *environments = rendered
    found += _refused(settings, base, environments)
    if any(d.severity == "error" for d in found):
        return [], found
    files = backend.object_files(base.release, base.manifests.resources, BASE)
    for env in environments:
        files += _overlay_files(base, env)
    files += _argocd_files(settings, environments, repository)
    return sorted(files), found


def _overlay_files(base: Rendered, env: Rendered) -> list[Artifact]:
    assert env.environment is not None
    folder = f"overlays/{env.environment}/"
    namespace = env.release.namespace
    files, entries = [], []
    for old, new in zip(base.manifests.resources, env.manifests.resources, strict=True):
        moved = copy.deepcopy(old)
        moved["metadata"]["namespace"] = namespace  # what the overlay's `namespace:` does
        ops = patches.diff(moved, new)
        if not ops:
            continue
        path = file_name(new).removesuffix(".yaml") + ".patch.yaml"
        files.append(Artifact(folder + path, yamlout.dump(ops)))
        entries.append({"path": path, "target": gitops.target(new)})
    overlay = gitops.overlay(namespace, "../../base", entries)
    return [*files, Artifact(folder + "kustomization.yaml", to_yaml(overlay))]


def _argocd_files(
    settings: dict[str, Environment], environments: list[Rendered], repository: gitops.Repository
) -> list[Artifact]:
    files = []
    for env in environments:
        assert env.environment is not None
        bound = settings[env.environment]
        assert bound.cluster is not None
        app = gitops.application(
            env.release,
            env.environment,
            env.manifests.ignore_differences,
            gitops.Source(repository, f"overlays/{env.environment}"),
            cluster=bound.cluster,
            automated=bound.automated,
        )
        files.append(Artifact(ARGOCD + file_name(app), to_yaml(app)))
    listed = gitops.listing([f.path.removeprefix(ARGOCD) for f in files])
    return [*files, Artifact(ARGOCD + "kustomization.yaml", to_yaml(listed))]


# --- what an overlay cannot say ---------------------------------------------------------------


def _refused(
    settings: dict[str, Environment], base: Rendered, environments: list[Rendered]
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    seen: dict[tuple[str, str], str] = {}
    for env in environments:
        name = env.environment
        assert name is not None
        bound = settings[name]
        cluster = bound.cluster
        if cluster is None:
            found.append(
                Diagnostic(
                    bound.spans["deploy"],
                    NO_CLUSTER,
                    f"environment {name!r} names no cluster, so its Argo CD Application has "
                    "nowhere to deploy",
                    "add `deploy: {cluster: https://API-SERVER}` to the environment "
                    "(https://kubernetes.default.svc: the cluster Argo CD runs in)",
                )
            )
        else:
            where = (cluster, env.release.namespace)
            if where in seen:
                found.append(
                    Diagnostic(
                        bound.spans["namespace"],
                        SHARED_NAMESPACE,
                        f"environments {seen[where]!r} and {name!r} both deploy "
                        f"{env.release.name} into namespace {where[1]!r} of {cluster}: their "
                        "Argo CD Applications would fight over the same objects",
                        "give each environment a namespace of its own (or a cluster)",
                    )
                )
            seen.setdefault(where, name)
        found += _objects(bound, base, env)
    return found


def _objects(bound: Environment, base: Rendered, env: Rendered) -> list[Diagnostic]:
    """An overlay patches the base's objects in place, all in the environment's namespace."""
    assert env.environment is not None
    old = {_identity(d) for d in base.manifests.resources}
    new = {_identity(d) for d in env.manifests.resources}
    if old != new:  # equal sets come in equal (apply) order
        named = ", ".join(f"{kind} {name}" for _, kind, name in sorted(old ^ new))
        return [
            Diagnostic(
                bound.spans[""],
                OBJECTS_DIFFER,
                f"environment {env.environment!r} changes which objects the rollout has "
                f"({named}), and an overlay can only patch the base's objects",
                "bind only what changes an object's fields in the environment (namespace, "
                "serving size, images, registry, Prometheus)",
            )
        ]
    outside = [
        d
        for d in env.manifests.resources
        if d["metadata"].get("namespace") != env.release.namespace
    ]
    return [
        Diagnostic(
            bound.spans["namespace"],
            OUTSIDE_NAMESPACE,
            f"{d['kind']} {d['metadata']['name']} is not in environment "
            f"{env.environment!r}'s namespace {env.release.namespace!r}, and the overlay's "
            "namespace would move it there",
            "keep every rollout object in the serving namespace",
        )
        for d in outside
    ]


def _identity(doc: Doc) -> tuple[str, str, str]:
    return doc["apiVersion"], doc["kind"], doc["metadata"]["name"]
