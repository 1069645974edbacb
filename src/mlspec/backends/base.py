"""What every back end provides: a name, a check and a pure emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from mlspec.compiler.ir import Pipeline
from mlspec.diagnostics import Diagnostic


@dataclass(frozen=True, order=True)
class Artifact:
    """One generated file: a relative POSIX path and its text."""

    path: str
    text: str


class Backend(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]

    def check(self, pipeline: Pipeline) -> list[Diagnostic]:
        """Problems that only this target has with the pipeline (MS3xx), at spec positions."""
        ...

    def emit(self, pipeline: Pipeline) -> list[Artifact]:
        """The generated files, sorted by path. Pure: no I/O, same IR -> same bytes."""
        ...
