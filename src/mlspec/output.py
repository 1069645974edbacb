"""Writing generated files: all or nothing.

Files are written into a temporary folder beside DIR, which then takes DIR's place: in one
atomic exchange of the two folders on Linux (renameat2), so a compile that fails or is killed
leaves an existing DIR exactly as it was. Elsewhere DIR is first renamed to a backup; a kill
between the two renames leaves the previous output in that backup, and `recover` (run by every
compile before anything else) puts it back. A non-empty DIR that mlspec did not write is never
replaced, and neither is the working folder or one of its parents.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from mlspec.backends.base import Artifact

MANIFEST = ".mlspec-manifest"
_TMP_MARK = ".mlspec-tmp-"


class OutputError(Exception):
    """The output folder cannot be written safely; nothing was changed."""


def recover(out_dir: Path) -> None:
    """Put back the previous output if a compile was killed between two renames."""
    out_dir = _target(out_dir)
    backup = _backup(out_dir)
    if backup.is_dir() and not out_dir.exists():
        backup.rename(out_dir)


def check_replaceable(shown: Path) -> None:
    """Raise OutputError if compile must not replace the folder; it changes nothing.

    `compile --check` refuses the same folders, so it never calls "stale" a folder that
    compile would then refuse to update.
    """
    out_dir = _target(shown)
    if Path.cwd().resolve().is_relative_to(out_dir.resolve()):
        raise OutputError(
            f"{shown} is the working folder or one of its parents; choose a subfolder"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{shown} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise OutputError(
            f"{shown} is not empty and was not written by mlspec; refusing to "
            "replace it (choose a new or empty folder)"
        )


def manifest_text(paths: Iterable[str]) -> str:
    """The manifest file's text; `compile --check` compares it like any generated file."""
    header = "# Written by mlspec compile; this folder is replaced as a whole on each compile.\n"
    return header + "".join(f"{path}\n" for path in paths)


def write_tree(artifacts: Iterable[Artifact], out_dir: Path) -> list[Path]:
    files = sorted(artifacts)
    check_paths(files)
    shown, out_dir = out_dir, _target(out_dir)
    recover(out_dir)
    check_replaceable(shown)
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(parent, out_dir.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{_TMP_MARK}", dir=parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the output is not
        for artifact in files:
            target = tmp / artifact.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.text.encode("utf-8"))
        (tmp / MANIFEST).write_text(manifest_text(a.path for a in files), encoding="utf-8")
        _sync(tmp)
        if out_dir.exists():
            _exchange(tmp, out_dir)  # tmp now holds the previous output
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [Path(shown) / a.path for a in files]


def _target(out_dir: Path) -> Path:
    """The folder to replace: a symbolic link is followed, so the link itself stays."""
    out_dir = Path(out_dir)
    return out_dir.resolve() if out_dir.is_symlink() else out_dir


def _backup(out_dir: Path) -> Path:
    return out_dir.absolute().parent / f".{out_dir.name}.mlspec-previous"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_paths(files: list[Artifact]) -> None:
    """Raise OutputError for a path that would escape the folder or collide."""
    seen: set[str] = set()
    for artifact in files:
        path = PurePosixPath(artifact.path)
        if path.is_absolute() or ".." in path.parts or not path.parts or artifact.path == MANIFEST:
            raise OutputError(f"a back end produced an unsafe path {artifact.path!r}")
        if artifact.path in seen:
            raise OutputError(f"a back end produced {artifact.path!r} twice")
        seen.add(artifact.path)


def _remove_stale_temporaries(parent: Path, name: str) -> None:
    """Temporary folders left by a killed compile of the same DIR."""
    for stale in parent.glob(f".{name}{_TMP_MARK}*"):
        shutil.rmtree(stale, ignore_errors=True)


def _sync(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders: atomically with Linux renameat2, else with two renames (see recover)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = getattr(libc, "renameat2", None)
        if renameat2 is not None:
            at_fdcwd, rename_exchange = -100, 2
            if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
                return
    backup = _backup(b)
    shutil.rmtree(backup, ignore_errors=True)
    b.rename(backup)
    try:
        a.rename(b)
    except OSError:
        backup.rename(b)
        raise
    shutil.rmtree(backup, ignore_errors=True)
