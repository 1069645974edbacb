"""Where the two sides of a diff come from: a file, `REV:path` read from git, or every spec that
changed since a revision (`--base REV`)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SPEC_RE = re.compile(r"^apiVersion:\s*['\"]?mlspec/v1['\"]?\s*$", re.MULTILINE)


class SourceError(Exception):
    """A side cannot be read: no such file, revision or path in git."""


@dataclass(frozen=True)
class Side:
    label: str  # as the user wrote it, for messages and headings
    text: str | None  # None: the spec does not exist on this side (added or deleted)


def read(arg: str) -> Side:
    """A file path, or REV:path (e.g. origin/main:specs/fraud.yaml) read with `git show`."""
    path = Path(arg)
    if path.is_file():
        return Side(arg, path.read_text(encoding="utf-8"))
    rev, sep, inside = arg.partition(":")
    if sep and rev and inside:
        return Side(arg, _git("show", f"{rev}:{inside}"))
    raise SourceError(f"{arg}: no such file (for a file in git, write REV:path)")


def changed_since(base: str, paths: tuple[str, ...] = ()) -> list[tuple[Side, Side]]:
    """(old, new) for every spec that differs between `base` and the working tree (under
    `paths`, if given). A spec is a YAML file with `apiVersion: mlspec/v1` on either side."""
    patterns = [f"{p.rstrip('/')}/**" if Path(p).is_dir() else p for p in paths]
    globs = [f":(glob){pattern}" for pattern in patterns] if patterns else ["*.yaml", "*.yml"]
    names = _git("diff", "--name-only", "--no-renames", base, "--", *globs)
    root = Path(_git("rev-parse", "--show-toplevel").strip())
    pairs = []
    for name in sorted(filter(None, names.splitlines())):
        if not name.endswith((".yaml", ".yml")):
            continue
        old = _optional(f"{base}:{name}")
        current = root / name
        new = current.read_text(encoding="utf-8") if current.is_file() else None
        if any(text is not None and SPEC_RE.search(text) for text in (old, new)):
            pairs.append((Side(f"{base}:{name}", old), Side(name, new)))
    return pairs


def _optional(spec: str) -> str | None:
    try:
        return _git("show", spec)
    except SourceError:
        return None  # the file does not exist at that revision: an added spec


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise SourceError("git is not installed") from None
    if done.returncode != 0:
        raise SourceError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout
