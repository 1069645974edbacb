"""The step packages of each side of a diff, read from where that side's spec is.

Lowering reads a step package beside the spec's file; a side read from git (`REV:path`) has no
file, so its packages are read from the same revision here, and a side that is a file of the
working tree is read beside that file (whatever the current folder). Without this the old side
of `mlspec diff origin/main:SPEC SPEC` would read today's step code and hide the change.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import replace

from mlspec.compiler import Analysis, ir
from mlspec.compiler import spec as s
from mlspec.diagnostics import Span


def package_name(function: str) -> str:
    """The step package a Python step's `module:function` imports from: its first part."""
    return function.partition(":")[0].partition(".")[0]


def locations(spec: s.Spec) -> dict[str, tuple[str, str]]:
    """Each Python step's (code.root, package name)."""
    found = {}
    for name, step in spec.steps.items():
        if step.python is not None:
            code = step.code or spec.defaults.code
            found[name] = (code.root if code is not None else ".", package_name(step.python))
    return found


def package_paths(spec: s.Spec, spec_path: str) -> set[str]:
    """Repository paths of the step packages of the spec at `spec_path` (repository-relative):
    `folder/name` and `folder/name.py`."""
    folder = posixpath.dirname(spec_path)
    paths = set()
    for root, name in locations(spec).values():
        base = posixpath.normpath(posixpath.join(folder, root))
        paths |= {posixpath.normpath(posixpath.join(base, p)) for p in (name, f"{name}.py")}
    return paths


Reader = Callable[[str, str, Span], ir.CodePackage | None]  # (root, name, span) -> package


def reread(analysis: Analysis, read: Reader) -> ir.Pipeline:
    """The pipeline with each Python step's package as `read` finds it (once per package)."""
    pipeline = analysis.pipeline
    where = locations(analysis.spec)
    found: dict[tuple[str, str], ir.CodePackage | None] = {}
    steps = []
    for step in pipeline.steps:
        if step.code is None or step.name not in where:
            steps.append(step)
            continue
        key = where[step.name]
        if key not in found:
            found[key] = read(*key, step.code.span)
        steps.append(replace(step, code=replace(step.code, package=found[key])))
    return replace(pipeline, steps=tuple(steps))
