"""Find and read a Python step's package beside the spec, and pin it by a hash of its files.

What is read here is what every target ships (a wheel, a folder beside the DAG or flow), so the
digest in the compiled output names exactly the code that runs. Reading is bounded: a step
package is source code, not a data folder.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Span, SpecError
from mlspec.runtime.code import digest, skipped

MAX_FILES = 2_000
MAX_BYTES = 20 * 1024 * 1024


def package_digest(files: tuple[ir.PackageFile, ...]) -> str:
    """The pin: the same function the worker checks the shipped copy with."""
    return digest((f.path, f.data) for f in files)


class PackageProblem(Exception):
    """A step package that cannot be shipped as it is; the message says why."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


# Lists the files of package `name` under `root` (relative to the spec's folder), each as
# (path relative to root, bytes), or None when there is no such package; raises
# PackageProblem. The working tree by default; `mlspec diff` reads a git revision instead.
PackageFiles = Callable[[str, str], list[tuple[str, Path | bytes]] | None]


def folder_package_files(spec_dir: Path) -> PackageFiles:
    def files(root: str, name: str) -> list[tuple[str, Path | bytes]] | None:
        base = spec_dir / root
        folder, module = base / name, base / f"{name}.py"
        if folder.is_dir() and not folder.is_symlink():
            return [(p.relative_to(base).as_posix(), p) for p in _walk(folder)]
        if module.is_file() and not module.is_symlink():
            return [(f"{name}.py", module)]
        notebook = base / name  # a notebook step's file (compiler/notebook.py)
        if name.endswith(".ipynb") and notebook.is_file():
            if notebook.is_symlink():
                raise PackageProblem(f"{name} is a symbolic link", "copy the notebook instead")
            return [(name, notebook)]
        return None

    return files


def read_package(files: PackageFiles, root: str, name: str, span: Span) -> ir.CodePackage | None:
    """The package `name` under `root` (a folder, or a single `name.py`), or None.

    Raises SpecError at `span` if it holds a symbolic link or anything but regular UTF-8 text
    files, or is larger than the bounds."""
    try:
        found = files(root, name)
        if found is None:
            return None
        if len(found) > MAX_FILES:
            raise PackageProblem(f"step package {name!r} holds more than {MAX_FILES:,} files")
        shipped: list[ir.PackageFile] = []
        total = 0
        for path, content in found:
            data = content.read_bytes() if isinstance(content, Path) else content
            total += len(data)
            if total > MAX_BYTES:
                raise PackageProblem(f"step package {name!r} is larger than {MAX_BYTES >> 20} MiB")
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise PackageProblem(
                    f"step package file {path} is not UTF-8 text",
                    "compiled folders carry the step package as reviewable text: load binary "
                    "data from a dataset or bake it into an image (`code.image`)",
                ) from None
            shipped.append(ir.PackageFile(path, data))
    except PackageProblem as problem:
        hint = problem.hint or "keep the step package to its source files; data belongs in datasets"
        raise SpecError([Diagnostic(span, "MS104", str(problem), hint)]) from None
    shipped.sort(key=lambda f: f.path)
    files_ = tuple(shipped)
    return ir.CodePackage(name, package_digest(files_), files_)


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        for entry in sorted(current.iterdir()):
            mode = entry.lstat().st_mode
            if skipped(entry.name, stat.S_ISDIR(mode)):
                continue
            where = entry.relative_to(folder.parent).as_posix()
            if stat.S_ISLNK(mode):
                raise PackageProblem(
                    f"step package holds a symbolic link, {where}",
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
                raise PackageProblem(f"step package holds {where}, which is not a file")
    return found
