"""The kubeflow back end: check (no kfp needed) and emit (builds with kfp, writes the IR file)."""

from __future__ import annotations

from typing import ClassVar

from mlspec.backends.base import Artifact
from mlspec.backends.kubeflow import checks, sdk
from mlspec.backends.kubeflow.layout import layout
from mlspec.backends.rollout import backend as rollout
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

NOT_EXPRESSIBLE = checks.NOT_EXPRESSIBLE


class KubeflowBackend:
    name: ClassVar[str] = "kubeflow"
    description: ClassVar[str] = "Kubeflow Pipelines v2 IR (YAML), built with the kfp SDK"
    features: ClassVar[frozenset[str]] = frozenset({"*"})

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        problems: list[Diagnostic] = []
        for step in pipeline.steps:
            for env in step.env:
                if env.param is not None:
                    problems.append(
                        Diagnostic(
                            env.span,
                            NOT_EXPRESSIBLE,
                            f"kubeflow cannot set env {env.name!r} of step {step.name!r} from "
                            f"the run-time parameter {env.param!r}",
                            "KFP sets environment values at compile time; pass the parameter "
                            "to the step as an input instead",
                        )
                    )
        for plan, why in layout(pipeline).problems:
            problems.append(
                Diagnostic(
                    plan.span,
                    NOT_EXPRESSIBLE,
                    why,
                    "let the steps under one gate also wait for the other (`after: [GATE]` on "
                    "a step), so that one order of the gates covers every input",
                )
            )
        problems += checks.placeholder_problems(pipeline)
        problems += checks.code_delivery_problems(pipeline)
        return problems + rollout.beside_pipeline_problems(pipeline)

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        kfp, kubernetes = sdk.load()
        from mlspec.backends.kubeflow import irfile
        from mlspec.backends.kubeflow.graph import pipeline_func

        text = irfile.render(pipeline_func(kfp, kubernetes, pipeline, layout(pipeline)))
        return sorted(
            [Artifact(f"{pipeline.name}.kfp.yaml", text), *rollout.beside_pipeline(pipeline)]
        )
