"""The airflow back end: what Airflow cannot express (check) and the DAG file (emit)."""

from __future__ import annotations

from typing import ClassVar

from mlspec.backends import code_files, runtime_files, support, templating
from mlspec.backends.airflow import code_checks, dag, monitor, triggers
from mlspec.backends.base import Artifact
from mlspec.backends.rollout import backend as rollout
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic


class AirflowBackend:
    name: ClassVar[str] = "airflow"
    description: ClassVar[str] = "an Airflow 3 DAG file (PythonOperator, KubernetesPodOperator)"

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        return [
            *support.problems(self.name, pipeline),
            *code_checks.problems(pipeline),
            *rollout.beside_pipeline_problems(pipeline),
        ]

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        if pipeline.monitor is not None:
            shape, template, context = monitor.RUNTIME, "monitor.py.j2", monitor.context
        else:
            shape, template, context = dag.RUNTIME, "dag.py.j2", dag.context
        text = templating.render("mlspec.backends.airflow", template, **context(pipeline))
        modules = triggers.runtime_modules(pipeline, shape)
        runtime = runtime_files.artifacts(runtime_files.package(modules), airflow=True)
        code = code_files.artifacts(pipeline, airflow=True)
        loader = triggers.loader(pipeline, shape)
        watchers = [
            Artifact(w.file_name, triggers.watcher_text(pipeline, w, loader))
            for w in triggers.watchers(pipeline)
        ]
        return sorted(
            [
                Artifact(dag.file_name(pipeline), text),
                *watchers,
                *runtime,
                *code,
                *rollout.beside_pipeline(pipeline),
            ]
        )
