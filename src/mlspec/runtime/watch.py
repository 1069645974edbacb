"""Data arrival: a fingerprint of what is at a watched path, compared between looks.

A watcher task lists the path (a file, or a folder walked recursively, dot-files skipped) and
hashes each file's relative path, size and modification time; a different fingerprint from the
one the engine kept from the last look means new or changed data, and the watcher raises the
engine's event (an Airflow asset event, a Prefect event). Content is not read: a look stays
cheap on a large dataset folder, and a rewrite that keeps size and time to the nanosecond is
not a change anyone makes. A missing or empty path has no fingerprint: nothing arrived.
"""

from __future__ import annotations

import hashlib
import os

MAX_FILES = 100_000


def fingerprint(path: str) -> str | None:
    """sha256 over (relative path, size, mtime_ns) of every file at `path`; None if none."""
    entries: list[tuple[str, int, int]] = []
    if os.path.isfile(path):
        stat = os.stat(path)
        entries.append((os.path.basename(path), stat.st_size, stat.st_mtime_ns))
    else:
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                full = os.path.join(folder, name)
                try:
                    stat = os.stat(full)
                except FileNotFoundError:  # removed while we looked: the next look sees it
                    continue
                entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
                if len(entries) > MAX_FILES:
                    raise RuntimeError(
                        f"mlspec: {path} holds more than {MAX_FILES:,} files: watch a narrower "
                        "folder (the landing folder of one dataset)"
                    )
    if not entries:
        return None
    h = hashlib.sha256()
    for name, size, mtime in sorted(entries):
        h.update(f"{name}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def arrived(path: str, last: str | None) -> tuple[bool, str | None]:
    """(whether new or changed data is at `path` since the fingerprint `last`, the new one)."""
    now = fingerprint(path)
    return now is not None and now != last, now
