"""The prefect back end: what Prefect cannot express (check), the flow and prefect.yaml (emit)."""

from __future__ import annotations

from typing import ClassVar

from mlspec.backends import code_files, runtime_files, support, templating
from mlspec.backends.base import Artifact
from mlspec.backends.prefect import delivery, deployment, monitor, triggers
from mlspec.backends.prefect.flow import context, file_name, runtime_package
from mlspec.backends.rollout import backend as rollout
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic


class PrefectBackend:
    name: ClassVar[str] = "prefect"
    description: ClassVar[str] = "a Prefect 3 flow file and its prefect.yaml deployment"

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        return [
            *support.problems(self.name, pipeline),
            *delivery.problems(pipeline),
            *triggers.problems(pipeline),
            *rollout.beside_pipeline_problems(pipeline),
        ]

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        if pipeline.monitor is not None:  # one task, the monitor's job: a template of its own
            flow = templating.render(
                "mlspec.backends.prefect", "monitor.py.j2", **monitor.context(pipeline)
            )
        else:
            flow = templating.render("mlspec.backends.prefect", "flow.py.j2", **context(pipeline))
        return sorted(
            [
                Artifact(file_name(pipeline), flow),
                *triggers.watcher(pipeline, runtime_package(pipeline)),
                Artifact("prefect.yaml", deployment.render(pipeline)),
                *runtime_files.artifacts(runtime_package(pipeline)),
                *code_files.artifacts(pipeline),
                *rollout.beside_pipeline(pipeline),
            ]
        )
