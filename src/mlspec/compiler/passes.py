"""IR -> IR passes: what the facade applies between the front end and a back end.

Each takes a checked pipeline and returns a new one (the IR is frozen); none reads a file or
knows a target, so every back end sees the same pipeline for the same inputs.
"""

from __future__ import annotations

import dataclasses
import re

from mlspec.compiler import ir


class PassError(ValueError):
    """A pass cannot apply to this pipeline with these inputs (a usage error, not a spec one)."""


def pin_model(pipeline: ir.Pipeline, version: str | None, uri: str | None) -> ir.Pipeline:
    """The pipeline with the model version (and storage URI) that CI chose to roll out."""
    if version is not None and not re.fullmatch(r"[1-9][0-9]{0,18}", version):
        raise PassError(f"--model-version {version!r}: registry versions are numbers")
    if version is None and uri is None:
        return pipeline
    if pipeline.rollout is None:
        raise PassError("--model-version and --model-uri apply to specs with a rollout")
    rollout = dataclasses.replace(pipeline.rollout, model_version=version, model_uri=uri)
    return dataclasses.replace(pipeline, rollout=rollout)


def localize(pipeline: ir.Pipeline, registry_uri: str, artifact_root: str) -> ir.Pipeline:
    """The pipeline as a local run sees it: this run's artifact folder, the local registry, and
    step code imported from the spec's folder (`Code.local`; no wheel to install) and the
    runtime carried as text (no `runtime_wheels`)."""
    registry = pipeline.registry
    if registry is not None:
        registry = dataclasses.replace(registry, tracking_uri=registry_uri)
    steps = tuple(
        dataclasses.replace(s, code=dataclasses.replace(s.code, wheels=None, local=True))
        if s.code is not None
        else s
        for s in pipeline.steps
    )
    monitor = pipeline.monitor
    if monitor is not None:
        watched = dataclasses.replace(monitor.model, tracking_uri=registry_uri)
        monitor = dataclasses.replace(monitor, model=watched)
    return dataclasses.replace(
        pipeline,
        registry=registry,
        artifact_root=artifact_root,
        steps=steps,
        monitor=monitor,
        runtime_wheels=None,
    )
