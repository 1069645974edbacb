"""The kubeflow back end: check (no kfp needed) and emit (builds with kfp, writes the IR file)."""

from __future__ import annotations

from typing import Any, ClassVar

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

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        return (
            support.problems(self.name, pipeline)
            + checks.placeholder_problems(pipeline)
            + checks.code_problems(pipeline)
            + checks.lineage_problems(pipeline)
            + rollout.beside_pipeline_problems(pipeline)
        )

    def pipeline_function(self, pipeline: ir.Pipeline) -> Any:
        """The kfp pipeline function (a GraphComponent) that emit compiles, and that kfp's
        local runner runs for `mlspec run`."""
        kfp, kubernetes = sdk.load()
        from mlspec.backends.kubeflow.graph import pipeline_func

        return pipeline_func(kfp, kubernetes, pipeline, layout(pipeline))

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        func = self.pipeline_function(pipeline)
        from mlspec.backends.kubeflow import irfile

        text = irfile.render(func)
        return sorted(
            [Artifact(f"{pipeline.name}.kfp.yaml", text), *rollout.beside_pipeline(pipeline)]
        )
