"""The pinned step packages beside a generated DAG or flow file.

Airflow and Prefect workers import a Python step's module from the folder that holds the
generated file: each step package read by the compiler (`ir.CodePackage`) goes there in a folder
named by its digest, which the step's task data names, and the runtime checks the copy against
the digest before it imports from it (runtime/code.py). `mlspec deploy` then places one folder,
and a Prefect pull step or an Airflow bundle fetches one folder, with the code in it.
"""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlspec.backends.base import Artifact
from mlspec.compiler import ir
from mlspec.runtime.embed import AIRFLOW_IGNORE

PREFIX = "mlspec_code_"
_AIRFLOW_IGNORE_TEXT = "# mlspec: a step package pinned by its digest, not DAG files\n[!.]*\n"


def folder(package: ir.CodePackage) -> str:
    return f"{PREFIX}{package.digest[:12]}"


def packages(pipeline: ir.Pipeline) -> list[ir.CodePackage]:
    found = {
        s.code.package.digest: s.code.package
        for s in pipeline.steps
        if s.code is not None and s.code.package is not None
    }
    return [found[d] for d in sorted(found)]


def from_path(step: ir.Step) -> bool:
    """A Python step whose package was not found beside the spec: it imports from the path."""
    return step.code is not None and step.code.package is None


def imports_from_path(pipeline: ir.Pipeline) -> bool:
    """Whether any step needs the spec's folder on the worker's path (`mlspec run`)."""
    return any(from_path(step) for step in pipeline.steps)


def named_in_packages(step: ir.Step) -> bool:
    """Whether the step's `packages:` names a distribution called after its top-level module."""
    top = (step.function or "").partition(":")[0].partition(".")[0]
    names = {canonicalize_name(Requirement(p).name) for p in step.packages}
    return canonicalize_name(top) in names


def step_code(step: ir.Step) -> dict[str, str] | None:
    """What a Python step's task data says about its code: None to import it from the path."""
    if step.code is None or step.code.package is None:
        return None
    package = step.code.package
    return {"package": package.name, "folder": folder(package), "digest": package.digest}


def notebook_file(step: ir.Step) -> dict[str, str]:
    """What a notebook step's task data says about its notebook: where it is shipped, beside
    the generated file in a folder named by its digest, and the digest to check it against."""
    notebook = step.notebook
    assert notebook is not None
    name = notebook.path.rpartition("/")[2]
    file = f"{PREFIX}{notebook.digest[:12]}/{name}"
    return {"path": notebook.path, "file": file, "digest": notebook.digest}


def artifacts(pipeline: ir.Pipeline, *, airflow: bool = False) -> list[Artifact]:
    out: list[Artifact] = []
    shipped = {notebook_file(s)["file"]: s.notebook for s in pipeline.steps if s.notebook}
    out += [Artifact(file, shipped[file].text) for file in sorted(shipped)]
    for package in packages(pipeline):
        base = folder(package)
        out += [Artifact(f"{base}/{f.path}", f.data.decode("utf-8")) for f in package.files]
        if airflow:
            out.append(Artifact(f"{base}/{AIRFLOW_IGNORE}", _AIRFLOW_IGNORE_TEXT))
    return out
