"""A spec's step packages as they were at a git revision, for the old side of `mlspec diff`.

Without it the old side of `REV:path` would read the packages of the working tree, and a change
of step code would never show up in a review.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from mlspec.compiler.code import MAX_BYTES, MAX_FILES, PackageFiles, PackageProblem
from mlspec.diff.git import GitFailed, git
from mlspec.runtime.code import skipped

_BLOB, _LINK = "100644 100755", "120000"


def package_files(rev: str, spec_path: str) -> PackageFiles:
    """Read packages beside `spec_path` (relative to the repository's root) at `rev`."""
    spec_dir = posixpath.dirname(spec_path)

    def files(root: str, name: str) -> list[tuple[str, Path | bytes]] | None:
        base = posixpath.normpath(posixpath.join(spec_dir, root))
        base = "" if base == "." else base
        folder = posixpath.join(base, name)
        entries = _tree(rev, folder) or _tree(rev, f"{folder}.py")
        if not entries:
            return None
        found: list[tuple[str, Path | bytes]] = []
        total = 0
        for mode, size, path in entries:
            inside = path[len(base) + 1 :] if base else path
            parts = inside.split("/")
            if any(skipped(p, True) for p in parts[:-1]) or skipped(parts[-1], False):
                continue
            if mode == _LINK:
                raise PackageProblem(f"step package holds a symbolic link, {inside}")
            if mode not in _BLOB:
                raise PackageProblem(f"step package holds {inside}, which is not a file")
            total += size
            if total > MAX_BYTES or len(found) >= MAX_FILES:
                raise PackageProblem(f"step package {name!r} at {rev} is beyond the bounds")
            found.append((inside, _git("cat-file", "blob", f"{rev}:{path}")))
        return found

    return files


def _tree(rev: str, path: str) -> list[tuple[str, int, str]]:
    """(mode, size, path) of every file at or under `path` at `rev`, or [] if there is none."""
    out = _git("ls-tree", "-r", "-l", "-z", "--full-tree", rev, "--", path)
    entries = []
    for record in filter(None, out.split(b"\0")):
        meta, _, name = record.decode().partition("\t")
        mode, kind, _, size = meta.split()
        if name == path or name.startswith(f"{path}/"):
            entries.append((mode, int(size) if kind == "blob" else 0, name))
    return entries


def _git(*args: str) -> bytes:
    try:
        return git(*args)
    except GitFailed as exc:
        raise PackageProblem(str(exc)) from None
