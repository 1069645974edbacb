"""Checks shared by targets whose Python steps run inside the orchestrator's workers.

Airflow and Prefect call a Python step's function in their own worker process: it cannot read
a Kubernetes secret, and it reads and writes artifacts as files.
"""

from __future__ import annotations

from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

NOT_EXPRESSIBLE = "MS301"
CHANGED_ON_TARGET = "MS302"


def worker_problems(pipeline: ir.Pipeline, target: str, worker: str) -> list[Diagnostic]:
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
                        f"{target} runs Python step {step.name!r} inside its {worker}, which "
                        f"cannot read the Kubernetes secret {env.secret.name!r} for env "
                        f"{env.name!r}",
                        "make it a container step (its pod gets the secret), or provide "
                        f"the variable in the environment of the {worker}",
                    )
                )
    root = pipeline.artifact_root
    if root is not None and "://" in root and pipeline.artifact_root_span is not None:
        problems.append(
            Diagnostic(
                pipeline.artifact_root_span,
                CHANGED_ON_TARGET,
                f"{target} tasks read and write artifacts as files, and {root!r} is not a "
                "filesystem path",
                f"set MLSPEC_ARTIFACT_ROOT in the environment of the {worker} to a folder that "
                "every task sees (and MLSPEC_ARTIFACT_CLAIM to the volume claim that step pods "
                "mount)",
                severity="warning",
            )
        )
    return problems
