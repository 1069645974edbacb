"""`mlspec compile --check`: does a committed output folder hold what compile would write now?

This is the rendered-manifests pattern: generated files are committed beside the spec, reviewed
in the pull request, and CI proves they were regenerated after the last change. The comparison
covers everything a compile would leave in the folder (the generated files, the `rollout/`
manifests and the manifest file's listing) and counts anything else in the folder as extra:
compile replaces the folder as a whole, so it would delete that file. Nothing here writes.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mlspec.backends.base import Artifact
from mlspec.output import MANIFEST, check_paths, manifest_text

_NOT_A_FILE = None  # a folder entry that is no regular file (a link, a pipe): never read
# A file is read whole only if it has the size of the file compile would write there; any other
# is read (for its diff) only up to SHOWN_BYTES, and all of those together up to _SHOWN_TOTAL.
# So a committed folder holding a huge file cannot make --check read it, or print it.
SHOWN_BYTES = 1 << 20
_SHOWN_TOTAL = 16 << 20


@dataclass(frozen=True)
class Unread:
    """A regular file too large to read for a diff; it differs from what compile would write."""

    size: int


Entry = bytes | Unread | None  # None: _NOT_A_FILE


@dataclass(frozen=True)
class Drift:
    """How a folder differs from what compile would write into it; paths are relative."""

    folder: str  # the folder as the user named it, in POSIX form, for messages and diff labels
    exists: bool
    changed: tuple[str, ...]
    missing: tuple[str, ...]  # compile would write these
    extra: tuple[str, ...]  # compile would remove these
    diff: str  # a unified diff from the folder (a/) to what compile would write (b/)
    expected: int  # how many files compile would write, the manifest included

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.extra)


def expected_files(artifacts: Iterable[Artifact]) -> dict[str, bytes]:
    """Every file compile would write, with its bytes: what `write_tree` writes, byte for byte."""
    files = sorted(artifacts)
    check_paths(files)
    found = {a.path: a.text.encode("utf-8") for a in files}
    found[MANIFEST] = manifest_text(a.path for a in files).encode("utf-8")
    return found


def read_folder(folder: Path, want: dict[str, bytes]) -> dict[str, Entry] | None:
    """Every entry under folder, by relative POSIX path; None if there is no folder.

    Empty subfolders are left out (git cannot commit them, and compile would remove them
    without a trace). Links and other special entries are listed but not read: a link is no
    file that compile writes, and reading a named pipe would block. Files are read within the
    bounds above (`want` holds what compile would write): a larger one is `Unread`.
    """
    if not folder.is_dir():
        return None
    found: dict[str, Entry] = {}
    budget = _SHOWN_TOTAL
    for parent, dirs, names in os.walk(folder):
        here = Path(parent)
        for name in [d for d in dirs if (here / d).is_symlink()] + names:
            path = here / name
            rel = path.relative_to(folder).as_posix()
            if not path.is_file() or path.is_symlink():
                found[rel] = _NOT_A_FILE
                continue
            size = path.stat().st_size
            expected = rel in want and len(want[rel]) == size
            if not expected and size > min(SHOWN_BYTES, budget):
                found[rel] = Unread(size)
                continue
            with path.open("rb") as handle:
                found[rel] = handle.read(size + 1)  # + 1: a file that grew is no longer equal
            budget -= 0 if expected else size
    return found


def compare(artifacts: Iterable[Artifact], folder: Path, shown: str | None = None) -> Drift:
    """Compare folder with the files compile would write for artifacts; it only reads."""
    label = Path(shown if shown is not None else folder).as_posix()
    want = expected_files(artifacts)
    have = read_folder(folder, want)
    current = have or {}
    changed = [p for p in sorted(want) if p in current and current[p] != want[p]]
    missing = [p for p in sorted(want) if p not in current]
    extra = [p for p in sorted(current) if p not in want]
    diff = "".join(
        _file_diff(label, path, current.get(path, b""), want.get(path), path in current)
        for path in sorted({*changed, *missing, *extra})
    )
    return Drift(label, have is not None, (*changed,), (*missing,), (*extra,), diff, len(want))


def _file_diff(folder: str, path: str, old: Entry, new: bytes | None, had: bool) -> str:
    """One file's part of the diff, labelled as git does: a/DIR/path, b/DIR/path, /dev/null."""
    where = f"{folder.lstrip('/')}/{path}"
    a = f"a/{where}" if had else "/dev/null"
    b = f"b/{where}" if new is not None else "/dev/null"
    if old is None:  # _NOT_A_FILE: a link or a special file, not read
        return f"{a} is not a regular file (a link or a special file); compile writes files\n"
    if isinstance(old, Unread):
        return f"{a} is {old.size:,} bytes, too large to show; it differs from {b}\n"
    try:
        old_text, new_text = old.decode("utf-8"), (new or b"").decode("utf-8")
    except UnicodeDecodeError:
        return f"Binary files {a} and {b} differ\n"
    if had and new is not None and old_text.replace("\r\n", "\n") == new_text:
        return f"Files {a} and {b} differ only in line endings (check .gitattributes)\n"
    lines = list(difflib.unified_diff(_lines(old_text), _lines(new_text), a, b))
    return "".join(_ended(line) for line in lines or [f"--- {a}\n", f"+++ {b}\n"])


def _lines(text: str) -> list[str]:
    """Lines split at newlines only: str.splitlines also splits at form feeds and U+2028,
    which YAML strings may hold, and the diff would show lines that are not in the file."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _ended(line: str) -> str:
    """A diff line that ends with a newline, marked as patch(1) expects when the file did not."""
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def render(drift: Drift, update: str) -> str:
    """The report for people: the verdict, what is changed, missing and extra, then the diff.

    The verdict line always says "is up to date" or "is stale", which is how a reader (or a
    script) tells a stale folder from a spec with errors: those print diagnostics and the
    folder is not compared.
    """
    if not drift.stale:
        return f"{drift.folder} is up to date ({drift.expected} files)\n"
    counts = f"{len(drift.changed)} changed, {len(drift.missing)} missing, {len(drift.extra)} extra"
    absent = "" if drift.exists else "; the folder does not exist"
    lines = [f"{drift.folder} is stale: {counts}{absent}"]
    lines += [f"  changed  {drift.folder}/{p}" for p in drift.changed]
    lines += [f"  missing  {drift.folder}/{p}  (compile would write it)" for p in drift.missing]
    lines += [f"  extra    {drift.folder}/{p}  (compile would remove it)" for p in drift.extra]
    return "\n".join([*lines, "", drift.diff.rstrip("\n"), "", f"to update it: {update}", ""])


def github_annotation(drift: Drift, update: str) -> str:
    """A workflow-command error line, so the stale folder shows up on the pull request."""
    counts = f"{len(drift.changed)} changed, {len(drift.missing)} missing, {len(drift.extra)} extra"
    message = f"{drift.folder} is stale ({counts}); run: {update}"
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::error title=mlspec compile --check::{escaped}\n"
