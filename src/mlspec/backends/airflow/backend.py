"""The airflow back end: what Airflow cannot express (check) and the DAG file (emit)."""

from __future__ import annotations

from typing import ClassVar

from mlspec.backends import code_files, runtime_files, support, templating
from mlspec.backends.airflow import code_checks
from mlspec.backends.airflow.dag import RUNTIME, context, file_name
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
        text = templating.render("mlspec.backends.airflow", "dag.py.j2", **context(pipeline))
        runtime = runtime_files.artifacts(runtime_files.package(RUNTIME), airflow=True)
        code = code_files.artifacts(pipeline, airflow=True)
        return sorted(
            [
                Artifact(file_name(pipeline), text),
                *runtime,
                *code,
                *rollout.beside_pipeline(pipeline),
            ]
        )
