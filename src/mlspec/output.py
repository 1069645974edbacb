"""Writing generated files: all or nothing, one writer at a time.

Files are written into a temporary folder beside DIR, which then takes DIR's place: in one
atomic exchange of the two folders on Linux (renameat2), so a compile that fails or is killed
leaves an existing DIR exactly as it was. Elsewhere DIR is first renamed to a backup; a kill
between the two renames leaves the previous output in that backup, and `recover` (run by every
compile before anything else) puts it back. A non-empty DIR that mlspec did not write is never
replaced, and neither is the working folder or one of its parents.

Compiles into the same DIR take turns: each holds an advisory lock on `.DIR.mlspec-lock`
beside DIR (fcntl.flock; msvcrt.locking on Windows) from before it looks at DIR until its last
rename, and removes the lock file when done. So no compile removes a temporary folder that
another one is still filling: temporaries beside DIR are a killed compile's, and the next
compile removes them. `compile --check` writes nothing, not even the lock file: it waits for a
compile that holds one, and reads DIR again if a compile replaced it meanwhile.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from mlspec.backends.base import Artifact

if sys.platform == "win32":  # msvcrt's byte-range lock instead of flock (exclusive only)
    import msvcrt
else:
    import fcntl

T = TypeVar("T")

MANIFEST = ".mlspec-manifest"
_TMP_MARK = ".mlspec-tmp-"
LOCK_WAIT = 120.0  # seconds a compile waits for another one writing the same folder


@dataclass(frozen=True)
class Blob:
    """A generated file of bytes (a wheel `mlspec build` writes), written like an Artifact."""

    path: str
    data: bytes


class OutputError(Exception):
    """The output folder cannot be written safely; nothing was changed."""


def recover(out_dir: Path) -> None:
    """Put back the previous output if a compile was killed between two renames."""
    out_dir = _target(out_dir)
    if _backup(out_dir).is_dir():
        with _locked(out_dir):
            _recover(out_dir)


def _recover(out_dir: Path) -> None:
    backup = _backup(out_dir)
    if backup.is_dir() and not out_dir.exists():
        backup.rename(out_dir)


def check_replaceable(shown: Path) -> None:
    """Raise OutputError if compile must not replace the folder; it changes nothing.

    `compile --check` refuses the same folders, so it never calls "stale" a folder that
    compile would then refuse to update.
    """
    out_dir = _target(shown)
    if Path.cwd().resolve().is_relative_to(_resolved(out_dir, shown)):
        raise OutputError(
            f"{shown} is the working folder or one of its parents; choose a subfolder"
        )
    above = out_dir.absolute().parent
    while not above.exists() and not above.is_symlink():  # the root exists: this ends
        above = above.parent
    if not above.is_dir():
        what = "not a folder" if above.exists() else "a symbolic link to nothing"
        raise OutputError(f"cannot write {shown}: {above} is {what}")
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


def write_tree(artifacts: Iterable[Artifact | Blob], out_dir: Path) -> list[Path]:
    files = sorted(artifacts, key=lambda a: a.path)
    check_paths(files)
    shown, out_dir = out_dir, _target(out_dir)
    check_replaceable(shown)  # before anything is created; again once the folder is ours
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir):
        _recover(out_dir)
        check_replaceable(shown)
        _remove_stale_temporaries(parent, out_dir.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{_TMP_MARK}", dir=parent))
        try:
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the output is not
            for artifact in files:
                target = tmp / artifact.path
                target.parent.mkdir(parents=True, exist_ok=True)
                data = artifact.data if isinstance(artifact, Blob) else artifact.text.encode()
                target.write_bytes(data)
            (tmp / MANIFEST).write_text(manifest_text(a.path for a in files), encoding="utf-8")
            _sync(tmp)
            if out_dir.exists():
                _exchange(tmp, out_dir)  # tmp now holds the previous output
            else:
                tmp.rename(out_dir)
        finally:
            _remove_tree(tmp)
    return [Path(shown) / a.path for a in files]


def read_whole(shown: Path, read: Callable[[], T]) -> T:
    """`read()` the folder (`compile --check` does) as one compile left it, writing nothing.

    If a compile is writing the folder (its lock file exists), the lock is waited for and held
    shared while reading; if a compile replaced the folder meanwhile anyway (it started after
    the lock was looked for), the folder is read again.
    """
    out_dir = _target(shown)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        with _shared(out_dir, deadline):
            before = _identity(out_dir)
            found = read()
            if _identity(out_dir) == before:
                return found
        if time.monotonic() > deadline:
            raise OutputError(f"{shown} kept being replaced by other compiles; try again")


@contextmanager
def _shared(out_dir: Path, deadline: float) -> Iterator[None]:
    try:
        fd = os.open(_lock_file(out_dir), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # no compile is writing (or none could: the parent cannot be written)
        yield
        return
    try:
        _acquire(fd, out_dir, deadline, shared=True)
        yield
    finally:
        os.close(fd)  # releases the lock


def _identity(folder: Path) -> tuple[int, int, int] | None:
    """Which folder is at that path: every compile puts a new one there."""
    try:
        found = folder.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_ctime_ns


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold the lock of the folder `out_dir` (a link already followed, see `_target`)."""
    path = _lock_file(out_dir)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            _acquire(fd, out_dir, deadline)
        except BaseException:
            os.close(fd)
            raise
        if _is_current(fd, path):
            break
        os.close(fd)  # its last holder removed the file while we waited: lock the new one
    try:
        yield
    finally:
        _release(fd, path)


def _acquire(fd: int, out_dir: Path, deadline: float, *, shared: bool = False) -> None:
    pause = 0.005
    while True:
        try:
            if sys.platform == "win32":
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EDEADLK):
                raise
        if time.monotonic() > deadline:
            raise OutputError(
                f"another mlspec compile has been writing {out_dir} for over {LOCK_WAIT:.0f} s "
                f"(it holds {_lock_file(out_dir).name}); try again once it is done"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _is_current(fd: int, path: Path) -> bool:
    """Is the locked file still the one at `path` (and not one removed by its last holder)?"""
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except FileNotFoundError:
        return False


def _release(fd: int, path: Path) -> None:
    try:
        if sys.platform == "win32":
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # there an open file cannot be removed
        else:
            with suppress(FileNotFoundError):  # ours: no compile removes it while we hold it
                path.unlink()
    finally:
        os.close(fd)


def _target(out_dir: Path) -> Path:
    """The folder to replace: a symbolic link is followed, so the link itself stays."""
    out_dir = Path(out_dir)
    return _resolved(out_dir, out_dir) if out_dir.is_symlink() else out_dir


def _resolved(path: Path, shown: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: a loop, before Python 3.13
        raise OutputError(f"{shown}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "a symbolic link in the path loops (too many levels of symbolic links)"
    return getattr(exc, "strerror", None) or str(exc)


def _sibling(out_dir: Path, mark: str) -> Path:
    return out_dir.absolute().parent / f".{out_dir.name}{mark}"


def _backup(out_dir: Path) -> Path:
    return _sibling(out_dir, ".mlspec-previous")


def _lock_file(out_dir: Path) -> Path:
    return _sibling(out_dir, ".mlspec-lock")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_paths(files: Sequence[Artifact | Blob]) -> None:
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
    """Temporary folders of killed compiles of the same DIR (run under DIR's lock, so none
    belongs to a live compile)."""
    for stale in parent.glob(f".{name}{_TMP_MARK}*"):
        _remove_tree(stale)


def _remove_tree(folder: Path) -> None:
    """Remove a folder of ours, also one with read-only folders inside (a previous output
    someone made read-only): they are made writable first. What still cannot be removed
    stays for the next compile to try again."""
    if not folder.is_dir() or folder.is_symlink():
        return
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        _make_writable(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _make_writable(folder: Path) -> None:
    with suppress(OSError):
        folder.chmod(folder.stat().st_mode | stat.S_IRWXU)
    for parent, dirs, _ in os.walk(folder):  # top-down: a folder is writable before it is read
        for name in dirs:
            path = Path(parent, name)
            if not path.is_symlink():
                with suppress(OSError):
                    path.chmod(path.stat().st_mode | stat.S_IRWXU)


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
    _remove_tree(backup)
    b.rename(backup)
    try:
        a.rename(b)
    except OSError:
        backup.rename(b)
        raise
    _remove_tree(backup)
