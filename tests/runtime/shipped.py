"""Loading the runtime package as generated pipelines do: its files in a folder, by path."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

from mlspec.runtime import embed


def load(pkg: embed.Package, folder: Path, module: str) -> types.ModuleType:
    """A module of the package, written to `folder` and imported from there by path, as the
    generated DAG and flow files do."""
    for path, text in embed.folder_files(pkg):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    root = folder / pkg.name
    if pkg.name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            pkg.name, root / "__init__.py", submodule_search_locations=[str(root)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[pkg.name] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{pkg.name}.{module}")
