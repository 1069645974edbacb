"""The kubeflow back end: check (no kfp needed) and emit (builds with kfp, writes the IR file)."""

from __future__ import annotations

from typing import ClassVar

from mlspec.backends import support
from mlspec.backends.base import Artifact
from mlspec.backends.kubeflow import checks, sdk
from mlspec.backends.kubeflow.layout import layout
from mlspec.backends.rollout import backend as rollout
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic


class KubeflowBackend:
    name: ClassVar[str] = "kubeflow"
    description: ClassVar[str] = "Kubeflow Pipelines v2 IR (YAML), built with the kfp SDK"
    features: ClassVar[frozenset[str]] = frozenset({"*"})

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        return (
            support.problems(self.name, pipeline)
            + checks.placeholder_problems(pipeline)
            + checks.code_delivery_problems(pipeline)
            + rollout.beside_pipeline_problems(pipeline)
        )

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        kfp, kubernetes = sdk.load()
        from mlspec.backends.kubeflow import irfile
        from mlspec.backends.kubeflow.graph import pipeline_func

        text = irfile.render(pipeline_func(kfp, kubernetes, pipeline, layout(pipeline)))
        return sorted(
            [Artifact(f"{pipeline.name}.kfp.yaml", text), *rollout.beside_pipeline(pipeline)]
        )
