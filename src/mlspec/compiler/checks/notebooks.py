"""Notebook steps: the notebook beside the spec exists, is a valid Python notebook (MS106) and
is small enough to ship (MS107), reported by `validate` like every other spec problem.

A spec read from a git revision (`mlspec diff`) reads its notebooks at that revision when it is
lowered, which reports the same problems; here only the working tree is read.
"""

from __future__ import annotations

from pathlib import Path

from mlspec.compiler.checks.base import Checker
from mlspec.compiler.code import folder_package_files
from mlspec.compiler.notebook import read_notebook
from mlspec.diagnostics import SpecError


def check_notebooks(c: Checker) -> None:
    if c.source.folder is not None:
        return
    files = folder_package_files(Path(c.source.file).parent)
    for name, step in c.spec.steps.items():
        if step.notebook is None:
            continue
        try:
            read_notebook(files, step.notebook, c.source.span(("steps", name, "notebook")))
        except SpecError as exc:
            c.found += exc.diagnostics
