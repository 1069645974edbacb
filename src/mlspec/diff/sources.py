"""Where the two sides of a diff come from: a file, `REV:path` read from git, or every spec that
changed since a revision (`--base REV`). Each side is read within the bounds of a spec file
(compiler.source): a file or blob is never read whole when it is too large to be a spec."""

from __future__ import annotations

import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlspec.compiler.code import PackageFiles, folder_package_files
from mlspec.compiler.siblings import SpecFolder
from mlspec.compiler.source import MAX_BYTES, decode, read_bytes
from mlspec.diff import revision
from mlspec.diff.git import GitFailed, git

SPEC_RE = re.compile(rb"^apiVersion:\s*['\"]?mlspec/v1['\"]?\s*$", re.MULTILINE)


class SourceError(Exception):
    """A side cannot be read: no such file, revision or path in git."""


@dataclass(frozen=True)
class Side:
    label: str  # as the user wrote it, for messages and headings
    text: str | None  # None: the spec does not exist on this side (added or deleted)
    # Where its step packages and the specs beside it are read: None beside the file `label`.
    packages: PackageFiles | None = None
    folder: SpecFolder | None = None


def read(arg: str) -> Side:
    """A file path, or REV:path (e.g. origin/main:specs/fraud.yaml) read with git.

    Raises SourceError when the side cannot be read, SpecError (MS007) when it is too large
    or not UTF-8."""
    path = Path(arg)
    if path.exists() or path.is_symlink():
        return Side(arg, decode(_file(path, arg), arg))
    rev, sep, inside = arg.partition(":")
    if sep and rev and inside:
        return Side(arg, decode(_blob(f"{rev}:{inside}"), arg), *_at(rev, inside))
    raise SourceError(f"{arg}: no such file (for a file in git, write REV:path)")


def changed_since(base: str, paths: tuple[str, ...] = ()) -> list[tuple[Side, Side]]:
    """(old, new) for every spec that differs between `base` and the working tree (under
    `paths`, if given). A spec is a YAML file with `apiVersion: mlspec/v1` on either side; a
    spec whose folder holds another changed file (its step code) is compared too."""
    patterns = [f"{p.rstrip('/')}/**" if Path(p).is_dir() else p for p in paths]
    globs = [f":(glob){pattern}" for pattern in patterns]
    changed = _git("diff", "--name-only", "--no-renames", base, "--", *globs).decode().split("\n")
    yaml = {n for n in changed if n.endswith((".yaml", ".yml"))}
    others = [n for n in changed if n and n not in yaml]
    if others:  # the specs beside changed code, as they are now
        tracked = _git("ls-files", "--full-name", "--", *(globs or ["*.yaml", "*.yml"]))
        for name in tracked.decode().splitlines():
            folder = posixpath.dirname(name)
            if name.endswith((".yaml", ".yml")) and any(
                o.startswith(f"{folder}/") or not folder for o in others
            ):
                yaml.add(name)
    root = Path(_git("rev-parse", "--show-toplevel").decode().strip())
    pairs = []
    for name in sorted(yaml):
        old = _optional(f"{base}:{name}")
        current = root / name
        new = _file(current, name) if current.is_file() else None
        if any(raw is not None and SPEC_RE.search(raw) for raw in (old, new)):
            pairs.append(
                (
                    Side(f"{base}:{name}", _text(old, f"{base}:{name}"), *_at(base, name)),
                    Side(name, _text(new, name), folder_package_files(current.parent)),
                )
            )
    return pairs


def _at(rev: str, inside: str) -> tuple[PackageFiles, SpecFolder]:
    """Step packages and specs at `rev`, beside `inside` (relative to the repository's root, or
    to the current folder when it starts with ./ as git reads it)."""
    if inside.startswith(("./", "../")):
        prefix = _git("rev-parse", "--show-prefix").decode().strip()
        inside = posixpath.normpath(posixpath.join(prefix, inside))
    return revision.package_files(rev, inside), _spec_folder(rev, posixpath.dirname(inside))


def _spec_folder(rev: str, folder: str) -> SpecFolder:
    """The YAML files of `folder` at `rev`, each named REV:path as `read` names a side."""

    def names() -> list[str]:
        try:
            listing = _git(
                "ls-tree", "-z", "--full-tree", rev, "--", f"{folder}/" if folder else "."
            )
        except SourceError:
            return []
        found = []
        for record in filter(None, listing.split(b"\0")):
            meta, _, path = record.decode().partition("\t")
            if meta.split()[1] == "blob" and path.endswith((".yaml", ".yml")):
                found.append(f"{rev}:{path}")
        return sorted(found)

    def read(label: str) -> bytes:
        try:
            return _blob(label)
        except SourceError as exc:
            raise OSError(str(exc)) from None

    return SpecFolder(names, read)


def _text(raw: bytes | None, label: str) -> str | None:
    return None if raw is None else decode(raw, label)


def _file(path: Path, label: str) -> bytes:
    try:
        return read_bytes(path)
    except OSError as exc:
        raise SourceError(f"cannot read {label}: {exc.strerror or exc}") from None


def _optional(spec: str) -> bytes | None:
    try:
        return _blob(spec)
    except SourceError:
        return None  # the file does not exist at that revision: an added spec


def _blob(spec: str) -> bytes:
    """At most MAX_BYTES + 1 bytes of a file in git (like `read_bytes`), streamed."""
    kind = _git("cat-file", "-t", spec).strip()  # SourceError if there is no such path
    if kind != b"blob":
        raise SourceError(f"cannot read {spec} from git: it is a {kind.decode()}, not a file")
    try:
        process = subprocess.Popen(
            ["git", "cat-file", "blob", spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError:
        raise SourceError("git is not installed") from None
    with process:
        assert process.stdout is not None
        raw = process.stdout.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            process.kill()  # the rest is not needed: the spec is too large either way
            return raw
        _, err = process.communicate(timeout=60)
    if process.returncode != 0:
        raise SourceError(f"git cat-file blob {spec}: {err.decode(errors='replace').strip()}")
    return raw


def _git(*args: str) -> bytes:
    try:
        return git(*args)
    except GitFailed as exc:
        raise SourceError(str(exc)) from None
