"""What `mlspec validate` is given: spec files, folders searched for specs, or `-` for stdin.

A folder is searched recursively for `*.yaml` and `*.yml` files that declare
`apiVersion: mlspec/v1` (other YAML there, CI files and Kubernetes manifests, is not a spec);
hidden folders and `node_modules` are skipped. Every file is read within the bounds of
`source.read_bytes`; one that cannot be read is reported, and the others are still checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlspec.compiler.source import MAX_BYTES, read_bytes

STDIN = "-"
STDIN_NAME = "<stdin>"
SUFFIXES = (".yaml", ".yml")
_SKIPPED = frozenset({"node_modules", "__pycache__"})
# `apiVersion: mlspec/v1` as a top-level line, quoted or not, with an optional comment.
_DECLARES = re.compile(rb"^apiVersion:[ \t]*(['\"]?)mlspec/v1\1[ \t]*(#.*)?\r?$", re.MULTILINE)


@dataclass(frozen=True)
class SpecInput:
    name: str  # as diagnostics show it
    raw: bytes  # empty when it could not be read
    problem: str | None = None  # why it could not be read


def collect(args: tuple[str, ...], stdin: BinaryIO) -> tuple[list[SpecInput], list[str]]:
    """The specs the arguments name, in order, and a note for each folder that holds none."""
    found: list[SpecInput] = []
    notes: list[str] = []
    for arg in args:
        if arg == STDIN:
            found.append(SpecInput(STDIN_NAME, stdin.read(MAX_BYTES + 1)))
        elif Path(arg).is_dir():
            specs = list(_specs_under(Path(arg)))
            if not specs:
                notes.append(f"no mlspec spec (a YAML file with `apiVersion: mlspec/v1`) in {arg}")
            found += specs
        else:
            found.append(_read(arg))
    return found, notes


def _read(name: str) -> SpecInput:
    try:
        return SpecInput(name, read_bytes(name))
    except OSError as exc:
        return SpecInput(name, b"", exc.strerror or str(exc))


def _specs_under(folder: Path) -> Iterator[SpecInput]:
    for path in sorted(folder.iterdir()):
        if path.is_dir() and not path.is_symlink():
            if not path.name.startswith(".") and path.name not in _SKIPPED:
                yield from _specs_under(path)
        elif path.suffix in SUFFIXES and path.is_file():
            spec = _read(str(path))
            if spec.problem is not None or _DECLARES.search(spec.raw):
                yield spec
