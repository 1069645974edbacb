"""The `ir` target: the resolved pipeline as JSON, for review and debugging of the front end."""

from __future__ import annotations

import json
from typing import ClassVar

from mlspec.backends.base import Artifact
from mlspec.compiler.ir import Pipeline, to_data
from mlspec.diagnostics import Diagnostic


class IrBackend:
    name: ClassVar[str] = "ir"
    description: ClassVar[str] = "the resolved pipeline IR as JSON (what every back end reads)"

    def check(self, pipeline: Pipeline) -> list[Diagnostic]:
        return []

    def emit(self, pipeline: Pipeline) -> list[Artifact]:
        data = to_data(pipeline, spans=False)
        del data["source_file"]  # as typed (an absolute path differs between clones): spec_path
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        return [Artifact(f"{pipeline.name}.ir.json", text)]
