"""The step package beside a generated DAG or flow: find it, check it is the pinned one, import.

The compiler pins each step package by `digest` of its files; the worker recomputes it over the
folder it is about to import from and refuses to run steps from any other code (a stale copy, a
hand edit in the DAG folder, a half-finished upload).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable

# Made where the package is imported, not reviewed: left out of the digest on both sides.
SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")

_checked: set[str] = set()


def digest(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over each file's '/'-separated path and bytes, taken in path order."""
    h = hashlib.sha256()
    for path, data in sorted(files):
        name = path.encode()
        h.update(b"%d:%s\0%d:" % (len(name), name, len(data)))
        h.update(data)
    return h.hexdigest()


def skipped(name: str, is_dir: bool) -> bool:
    if name.startswith("."):  # editor and OS litter (.DS_Store), tool state
        return True
    return name in SKIPPED_DIRS if is_dir else name.endswith(SKIPPED_SUFFIXES)


def folder_files(base: str, name: str) -> list[tuple[str, bytes]]:
    """The files of package `name` (a folder or `name.py`) under `base`, as `digest` reads them."""
    found: list[tuple[str, bytes]] = []
    top = os.path.join(base, name)
    if not os.path.isdir(top):
        with open(f"{top}.py", "rb") as f:
            return [(f"{name}.py", f.read())]
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not skipped(d, True))
        for file in sorted(files):
            if not skipped(file, False):
                path = os.path.join(folder, file)
                with open(path, "rb") as f:
                    found.append((os.path.relpath(path, base).replace(os.sep, "/"), f.read()))
    return found


def use_package(folder: str, name: str, pinned: str) -> None:
    """Put `folder` first on the import path once package `name` in it proves to be `pinned`."""
    if folder in _checked:
        return
    if not os.path.isdir(folder):
        raise RuntimeError(
            f"mlspec: the step package {name!r} is not beside the pipeline: {folder} is missing; "
            "deploy the compiled folder as a whole (mlspec deploy places it), or compile again"
        )
    found = digest(folder_files(folder, name))
    if found != pinned:
        raise RuntimeError(
            f"mlspec: the step package {name!r} in {folder} is not the code this pipeline was "
            f"compiled with (its files hash to {found[:12]}, the pipeline pins {pinned[:12]}): "
            "deploy the compiled folder as a whole, or compile again"
        )
    if name in sys.modules:
        loaded = getattr(sys.modules[name], "__file__", None) or ""
        if not os.path.abspath(loaded).startswith(os.path.abspath(folder) + os.sep):
            raise RuntimeError(
                f"mlspec: {name!r} is already imported from {loaded or 'elsewhere'}, not from "
                f"the pinned copy in {folder}"
            )
    sys.path.insert(0, folder)
    _checked.add(folder)
