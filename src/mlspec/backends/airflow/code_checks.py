"""How a Python step's code reaches an Airflow worker, and what Airflow does not take.

The step package found beside the spec is compiled into the DAG's folder (`mlspec_code_<digest>`,
backends/code_files.py) and `mlspec deploy` places it beside the DAG: that is Airflow's one way.
A package not found there must already be installed on the workers; `code.git` and
`code.wheels` are other targets' ways and change nothing here (MS302).
"""

from __future__ import annotations

from mlspec.backends import code_files
from mlspec.backends.rollout.base import warning
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Span

PLACED = "Airflow gets the step package placed beside the DAG by `mlspec deploy`"


def problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    said: set[tuple[Span, str]] = set()  # a defaults' code: applies to many steps: said once
    for step in pipeline.steps:
        code = step.code
        if step.kind != "python" or code is None:
            continue
        if code_files.from_path(step) and not code_files.named_in_packages(step):
            found.append(_not_beside(step))
        if code.git is not None and (code.git.span, "git") not in said:
            said.add((code.git.span, "git"))
            found.append(
                warning(
                    code.git.span,
                    f"airflow does not fetch code.git: {PLACED}, pinned by its digest (an "
                    "Airflow git DAG bundle is set up in airflow.cfg, not by the DAG)",
                    "leave code.git to the targets that use it (prefect), or deploy the "
                    "compiled folder with `mlspec deploy --target airflow`",
                )
            )
        if code.wheels is not None and (code.span, "wheels") not in said:
            said.add((code.span, "wheels"))
            found.append(
                warning(
                    code.span,
                    f"airflow does not install code.wheels: {PLACED}, pinned by its digest",
                    "code.wheels is for kubeflow; deploy the compiled folder with "
                    "`mlspec deploy --target airflow`",
                )
            )
    return found


def _not_beside(step: ir.Step) -> Diagnostic:
    module = (step.function or "").partition(":")[0]
    top = module.partition(".")[0]
    return warning(
        step.span,
        f"airflow imports the module {module!r} of Python step {step.name!r} from the worker's "
        "path: "
        f"its package {top!r} is not beside the spec, so no pinned copy goes beside the DAG and "
        "the Airflow workers must have it installed",
        f"put the package {top!r} under the spec's folder (or point code.root at the folder "
        f"that holds it), or name its distribution {top!r} in `packages:` and install it on the "
        "workers",
    )
