"""How a Python step's code reaches an Airflow worker, and what Airflow does not take.

The step package found beside the spec is compiled into the DAG's folder (`mlspec_code_<digest>`,
backends/code_files.py) and `mlspec deploy` places it beside the DAG: that is Airflow's one way.
A package not found there must already be installed on the workers (MS302). `code.git` and
`code.wheels` are other targets' ways to deliver the same pinned package: nothing is lost when
Airflow places its copy instead (the digest is the same), and a git-synced DAG bundle of the
compiled folder carries that copy too, so they are not warned about.
"""

from __future__ import annotations

from mlspec.backends import code_files
from mlspec.backends.rollout.base import warning
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic


def problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for step in pipeline.steps:
        code = step.code
        if step.kind != "python" or code is None:
            continue
        if code_files.from_path(step) and not code_files.named_in_packages(step):
            found.append(_not_beside(step))
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
