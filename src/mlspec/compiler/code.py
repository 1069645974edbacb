"""Find and read a Python step's package beside the spec, and pin it by a hash of its files.

What is read here is what every target ships (a wheel, a folder beside the DAG or flow), so the
digest in the compiled output names exactly the code that runs. Reading is bounded: a step
package is source code, not a data folder.
"""

from __future__ import annotations

import stat
from pathlib import Path

from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Span, SpecError
from mlspec.runtime.code import digest, skipped

MAX_FILES = 2_000
MAX_BYTES = 20 * 1024 * 1024


def package_digest(files: tuple[ir.PackageFile, ...]) -> str:
    """The pin: the same function the worker checks the shipped copy with."""
    return digest((f.path, f.data) for f in files)


def read_package(spec_dir: Path, root: str, name: str, span: Span) -> ir.CodePackage | None:
    """The package `name` under `spec_dir/root` (a folder, or a single `name.py`), or None.

    Raises SpecError at `span` if it holds a symbolic link or a file that is not a regular file,
    or is larger than the bounds."""
    base = spec_dir / root
    folder, module = base / name, base / f"{name}.py"
    if folder.is_dir() and not folder.is_symlink():
        paths = _walk(folder, span)
    elif module.is_file() and not module.is_symlink():
        paths = [module]
    else:
        return None
    if len(paths) > MAX_FILES:
        raise _problem(span, f"step package {name!r} holds more than {MAX_FILES:,} files")
    files: list[ir.PackageFile] = []
    total = 0
    for path in paths:
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _problem(
                span,
                f"step package file {path.relative_to(base).as_posix()} is not UTF-8 text",
                "compiled folders carry the step package as reviewable text: load binary data "
                "from a dataset or bake it into an image (`code.image`)",
            ) from None
        total += len(data)
        if total > MAX_BYTES:
            raise _problem(span, f"step package {name!r} is larger than {MAX_BYTES >> 20} MiB")
        files.append(ir.PackageFile(path.relative_to(base).as_posix(), data))
    files.sort(key=lambda f: f.path)
    shipped = tuple(files)
    return ir.CodePackage(name, package_digest(shipped), shipped)


def _walk(folder: Path, span: Span) -> list[Path]:
    found: list[Path] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        for entry in sorted(current.iterdir()):
            mode = entry.lstat().st_mode
            if skipped(entry.name, stat.S_ISDIR(mode)):
                continue
            if stat.S_ISLNK(mode):
                raise _problem(
                    span,
                    f"step package holds a symbolic link, {entry.relative_to(folder.parent)}",
                    "copy the file into the package: a link may point anywhere on the "
                    "compiling machine, and what is shipped must be what is reviewed",
                )
            if stat.S_ISDIR(mode):
                stack.append(entry)
            elif stat.S_ISREG(mode):
                found.append(entry)
                if len(found) > MAX_FILES:
                    return found
            else:
                raise _problem(
                    span, f"step package holds {entry.relative_to(folder.parent)}, not a file"
                )
    return found


def _problem(span: Span, message: str, hint: str | None = None) -> SpecError:
    return SpecError(
        [
            Diagnostic(
                span,
                "MS104",
                message,
                hint or "keep the step package to its source files; data belongs in datasets",
            )
        ]
    )
