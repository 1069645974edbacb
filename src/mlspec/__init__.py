"""mlspec: a declarative GitOps pipeline compiler for ML pipelines.

The library API; the `mlspec` command is a shell over the same calls::

    import mlspec

    compiled = mlspec.compile_pipeline("examples/breast-cancer/pipeline.yaml", "airflow")
    for d in compiled.diagnostics:  # errors and warnings, at their line and column
        print(f"{d.span}: {d.severity}[{d.code}] {d.message}")
    for artifact in compiled.artifacts:  # the files `mlspec compile` writes, not written here
        print(artifact.path, len(artifact.text))

- `compile_pipeline(spec, target, ...)`: analyze, pass, check and emit for one target; returns
  a `Compiled` (`ok`, `diagnostics`, `artifacts`, `pipeline`: the IR).
- `analyze(path)`: the front end only; raises `SpecError` (its `.diagnostics`) or OSError.
- `targets()`: the registered targets by name (`mlspec targets`).
- `Diagnostic`: a problem at a span (file, line, col), with a code (MSxxx) and a hint.

Importing mlspec is cheap: each name is imported on first use, and a target's orchestrator
library only when that target generates.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mlspec.api import Compiled, analyze, compile_pipeline
    from mlspec.backends.registry import targets
    from mlspec.diagnostics import Diagnostic, SpecError

__all__ = [
    "Compiled",
    "Diagnostic",
    "SpecError",
    "__version__",
    "analyze",
    "compile_pipeline",
    "targets",
]

_HOMES = {
    "Compiled": "mlspec.api",
    "analyze": "mlspec.api",
    "compile_pipeline": "mlspec.api",
    "targets": "mlspec.backends.registry",
    "Diagnostic": "mlspec.diagnostics",
    "SpecError": "mlspec.diagnostics",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mlspec' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
