"""The compile facade: analyze -> IR passes -> target check -> emit, for one target.

`mlspec compile` (and `--check`), `deploy` and `run` all go through `compile_pipeline`; it is
also the library API that `mlspec` re-exports. Nothing here prints, writes or exits: the CLI
does that with what it returns.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlspec.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    from mlspec.backends.base import Artifact, Backend
    from mlspec.backends.rollout.environments import Environment
    from mlspec.backends.rollout.gitops import Repository
    from mlspec.bandit.config import Config
    from mlspec.compiler import Analysis
    from mlspec.compiler.ir import Pipeline

Pass = Callable[["Pipeline"], "Pipeline"]

# Target checks without a pin see a rollout as CI compiles it, with the model pinned: KServe
# needs `compile --model-uri`, which is not part of the spec (compile says so if it is missing).
PINNED_FOR_CHECKS = "s3://pinned-by-mlspec-compile/model"


@dataclass(frozen=True)
class Compiled:
    """One spec compiled for one target."""

    target: str
    pipeline: Pipeline | None  # the IR after the passes; None when the spec has errors
    diagnostics: tuple[Diagnostic, ...]  # the spec's (when read here), then the target's
    artifacts: tuple[Artifact, ...] = ()  # sorted by path; none while there are errors

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def analyze(path: str | os.PathLike[str]) -> Analysis:
    """The front end on one spec file. Raises SpecError with every problem of the first stage
    that found any, or OSError if the file cannot be read."""
    from mlspec.compiler import analyze_file

    return analyze_file(os.fspath(path))


def backend(target: str) -> Backend:
    """The back end of a registered target: UnknownTarget or TargetUnavailable if none."""
    from mlspec.backends import registry

    return registry.get(target).load()


def compile_pipeline(
    spec: str | os.PathLike[str] | Analysis | Pipeline,
    target: str,
    *,
    model_version: str | None = None,
    model_uri: str | None = None,
    passes: Sequence[Pass] = (),
    emit: bool = True,
) -> Compiled:
    """Check a spec (a file, an Analysis or a Pipeline) for `target` and generate its files.

    The passes run in order: the model pin (`model_version`, `model_uri`, as `mlspec compile`'s
    flags; PassError if they do not apply), then `passes`. Errors in the spec or for the target
    come back as diagnostics, with no artifacts; `emit=False` checks only.
    """
    from mlspec.compiler import Analysis
    from mlspec.compiler.passes import pin_model

    found: list[Diagnostic] = []
    if isinstance(spec, Analysis):
        pipeline = spec.pipeline
    elif isinstance(spec, str | os.PathLike):
        try:
            analysis = analyze(spec)
        except SpecError as exc:
            return Compiled(target, None, tuple(exc.diagnostics))
        found += analysis.warnings
        pipeline = analysis.pipeline
    else:
        pipeline = spec
    chosen = backend(target)
    pipeline = pin_model(pipeline, model_version, model_uri)
    for step in passes:
        pipeline = step(pipeline)
    found += chosen.check(pipeline)
    compiled = Compiled(target, pipeline, tuple(found))
    return emitted(compiled) if emit else compiled


def compile_gitops(
    analysis: Analysis,
    repository: Repository,
    *,
    model_version: str | None = None,
    model_uri: str | None = None,
) -> Compiled:
    """The rollout of a spec with environments as one GitOps tree: a kustomize base, an
    overlay per environment and an Argo CD Application per environment that syncs it from
    `repository` (backends/rollout/environments.py). PassError if the pin does not apply."""
    from mlspec.backends.rollout.environments import tree
    from mlspec.compiler.passes import pin_model

    pipeline = pin_model(analysis.pipeline, model_version, model_uri)
    bound, found = gitops_environments(analysis)
    if any(d.severity == "error" for d in found):
        return Compiled("rollout", pipeline, tuple(found))
    files, problems = tree(
        analysis.pipeline, bound, repository, lambda p: pin_model(p, model_version, model_uri)
    )
    found += problems
    return Compiled("rollout", pipeline, tuple(found), tuple(files))


def gitops_environments(analysis: Analysis) -> tuple[list[Environment], list[Diagnostic]]:
    """Each environment of the spec as the GitOps tree needs it (its bound pipeline, cluster,
    sync and positions), and the problems of binding them."""
    from mlspec.backends.rollout.environments import Environment

    found: list[Diagnostic] = []
    bound: list[Environment] = []
    source = analysis.source
    for name, settings in analysis.spec.environments.items():
        try:
            one = analysis.for_environment(name)
        except SpecError as exc:
            found += [d for d in exc.diagnostics if d not in found]
            continue
        at = ("environments", name)
        spans = {"": source.span(at, key=True)}
        for key in ("deploy", "namespace"):
            spans[key] = source.span((*at, key) if source.has((*at, key)) else at, key=True)
        cluster = settings.deploy.cluster if settings.deploy is not None else None
        automated = settings.promote_from is None  # it serves what another proved: by hand
        bound.append(Environment(name, one.pipeline, cluster, automated, spans))
    return bound, found


def emitted(compiled: Compiled) -> Compiled:
    """`compiled` with its files, if it has no errors (TargetUnavailable if the target cannot
    generate them here, e.g. its optional extra is missing)."""
    if not compiled.ok or compiled.pipeline is None or compiled.artifacts:
        return compiled
    artifacts = tuple(backend(compiled.target).emit(compiled.pipeline))
    return dataclasses.replace(compiled, artifacts=artifacts)


def check_targets(pipeline: Pipeline, targets: Sequence[str]) -> list[Diagnostic]:
    """What compiling for each target would report (`validate --target`), each problem once;
    a rollout without a model URI is checked as pinned, since CI pins it."""
    from mlspec.compiler.passes import pin_model

    if pipeline.rollout is not None and pipeline.rollout.model_uri is None:
        pipeline = pin_model(pipeline, None, PINNED_FOR_CHECKS)
    found = [d for target in targets for d in backend(target).check(pipeline)]
    return list(dict.fromkeys(found))


def bandit_config(pipeline: Pipeline) -> Config:
    """The controller configuration of a bandit rollout: what `compile` writes into its
    ConfigMap, and what `mlspec simulate` replays."""
    from mlspec.backends.rollout.bandit import bandit_config as config
    from mlspec.backends.rollout.release import Release

    if pipeline.rollout is None:
        raise ValueError(f"pipeline {pipeline.name} has no rollout")
    return config(Release(pipeline, pipeline.rollout))
