"""The airflow back end: what Airflow cannot express (check) and the DAG file (emit)."""

from __future__ import annotations

from typing import ClassVar

from mlspec.backends import templating
from mlspec.backends.airflow.dag import context, file_name
from mlspec.backends.base import Artifact
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

NOT_EXPRESSIBLE = "MS301"
CHANGED_ON_TARGET = "MS302"


class AirflowBackend:
    name: ClassVar[str] = "airflow"
    description: ClassVar[str] = "an Airflow 3 DAG file (PythonOperator, KubernetesPodOperator)"
    features: ClassVar[frozenset[str]] = frozenset({"*"})

    def check(self, pipeline: ir.Pipeline) -> list[Diagnostic]:
        problems: list[Diagnostic] = []
        for step in pipeline.steps:
            if step.kind != "python":
                continue
            for env in step.env:
                if env.secret is not None:
                    problems.append(
                        Diagnostic(
                            env.span,
                            NOT_EXPRESSIBLE,
                            f"airflow runs Python step {step.name!r} inside its worker, which "
                            f"cannot read the Kubernetes secret {env.secret.name!r} for env "
                            f"{env.name!r}",
                            "make it a container step (its pod gets the secret), or provide "
                            "the variable in the Airflow workers' environment",
                        )
                    )
        root = pipeline.artifact_root
        if root is not None and "://" in root and pipeline.artifact_root_span is not None:
            problems.append(
                Diagnostic(
                    pipeline.artifact_root_span,
                    CHANGED_ON_TARGET,
                    f"airflow tasks read and write artifacts as files, and {root!r} is not a "
                    "filesystem path",
                    "set MLSPEC_ARTIFACT_ROOT on the Airflow workers to a folder they all share "
                    "(and MLSPEC_ARTIFACT_CLAIM to the volume claim that step pods mount)",
                    severity="warning",
                )
            )
        return problems

    def emit(self, pipeline: ir.Pipeline) -> list[Artifact]:
        text = templating.render("mlspec.backends.airflow", "dag.py.j2", **context(pipeline))
        return [Artifact(file_name(pipeline), text)]
