"""Where the two sides of a diff come from: a file, `REV:path` read from git, or every spec that
changed since a revision (`--base REV`). Each side is read within the bounds of a spec file
(compiler.source): a file or blob is never read whole when it is too large to be a spec."""

from __future__ import annotations

import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlspec.compiler import analyze_text, ir
from mlspec.compiler.code import MAX_BYTES as PACKAGE_BYTES
from mlspec.compiler.code import MAX_FILES, package_digest, read_package
from mlspec.compiler.source import MAX_BYTES, decode, read_bytes
from mlspec.diagnostics import Diagnostic, Span, SpecError
from mlspec.diff.packages import package_paths
from mlspec.runtime.code import skipped

SPEC_RE = re.compile(rb"^apiVersion:\s*['\"]?mlspec/v1['\"]?\s*$", re.MULTILINE)


class SourceError(Exception):
    """A side cannot be read: no such file, revision or path in git."""


@dataclass(frozen=True)
class Side:
    label: str  # as the user wrote it, for messages and headings
    text: str | None  # None: the spec does not exist on this side (added or deleted)
    # Where its step packages are: (revision, the spec's path in the repository) for a side
    # read from git, else the spec file's path (None: beside the label, as lowering reads).
    git: tuple[str, str] | None = None
    path: Path | None = None

    def package(self, root: str, name: str, span: Span) -> ir.CodePackage | None:
        """Step package `name` under the spec's folder + `root` on this side."""
        if self.git is not None:
            return git_package(*self.git, root, name, span)
        folder = (self.path or Path(self.label)).parent
        return read_package(folder, root, name, span)


def read(arg: str) -> Side:
    """A file path, or REV:path (e.g. origin/main:specs/fraud.yaml) read with git.

    Raises SourceError when the side cannot be read, SpecError (MS007) when it is too large
    or not UTF-8."""
    path = Path(arg)
    if path.exists() or path.is_symlink():
        return Side(arg, decode(_file(path, arg), arg))
    rev, sep, inside = arg.partition(":")
    if sep and rev and inside:
        return Side(arg, decode(_blob(f"{rev}:{inside}"), arg), git=(rev, _in_repository(inside)))
    raise SourceError(f"{arg}: no such file (for a file in git, write REV:path)")


def changed_since(base: str, paths: tuple[str, ...] = ()) -> list[tuple[Side, Side]]:
    """(old, new) for every spec that differs between `base` and the working tree (under
    `paths`, if given), or one of whose step packages does. A spec is a YAML file with
    `apiVersion: mlspec/v1` on either side."""
    patterns = [f"{p.rstrip('/')}/**" if Path(p).is_dir() else p for p in paths]
    globs = [f":(glob){pattern}" for pattern in patterns] if patterns else ["*.yaml", "*.yml"]
    names = _git("diff", "--name-only", "--no-renames", base, "--", *globs).decode()
    root = Path(_git("rev-parse", "--show-toplevel").decode().strip())
    specs = {n for n in names.splitlines() if n.endswith((".yaml", ".yml"))}
    specs |= _code_changed(base, root, globs, specs)
    pairs = []
    for name in sorted(specs):
        old = _optional(f"{base}:{name}")
        current = root / name
        new = _file(current, name) if current.is_file() else None
        if any(raw is not None and SPEC_RE.search(raw) for raw in (old, new)):
            pairs.append(
                (
                    Side(f"{base}:{name}", _text(old, f"{base}:{name}"), git=(base, name)),
                    Side(name, _text(new, name), path=current),
                )
            )
    return pairs


def _code_changed(base: str, root: Path, globs: list[str], known: set[str]) -> set[str]:
    """The specs of the working tree (under `globs`) whose YAML did not change since `base` but
    one of whose step packages did: their compiled output changes all the same."""
    changed = set(_git("diff", "--name-only", "--no-renames", base).decode().splitlines())
    code = {name for name in changed if not name.endswith((".yaml", ".yml"))}
    if not code:
        return set()
    tracked = _git("ls-files", "-z", "--full-name", "--", *globs).decode().split("\0")
    found = set()
    for name in filter(None, tracked):
        if name in known or not name.endswith((".yaml", ".yml")):
            continue
        raw = _file(root / name, name)
        if not SPEC_RE.search(raw):
            continue
        try:
            spec = analyze_text(decode(raw, name), name).spec
        except SpecError:
            continue  # an invalid spec whose text did not change: nothing to compare it by
        packages = package_paths(spec, name)
        if any(c in packages or c.startswith(tuple(f"{p}/" for p in packages)) for c in code):
            found.add(name)
    return found


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


def _in_repository(inside: str) -> str:
    """A `REV:path` path from the repository's root (git reads `./path` from the current
    folder)."""
    if not inside.startswith(("./", "../")):
        return inside
    prefix = _git("rev-parse", "--show-prefix").decode().strip()
    return posixpath.normpath(posixpath.join(prefix, inside))


def git_package(
    revision: str, spec_path: str, root: str, name: str, span: Span
) -> ir.CodePackage | None:
    """Step package `name` under the folder of `spec_path` + `root` at `revision`, read as
    compiler.code reads a folder: the same files, bounds and digest."""
    base = posixpath.normpath(posixpath.join(posixpath.dirname(spec_path), root))
    top = posixpath.normpath(posixpath.join(base, name))
    listed = _git("ls-tree", "-r", "-l", "-z", "--full-tree", revision, "--", top, f"{top}.py")
    entries = []
    for record in filter(None, listed.split(b"\0")):
        meta, _, raw = record.partition(b"\t")
        mode, kind, sha, size = meta.split()
        entries.append((raw.decode("utf-8", "surrogateescape"), mode, kind, sha, size))
    chosen = [e for e in entries if e[0].startswith(top + "/")] or [
        e for e in entries if e[0] == f"{top}.py"
    ]
    files: list[tuple[str, bytes, int]] = []
    for path, mode, kind, sha, size in sorted(chosen):
        inside = posixpath.relpath(path, base)
        *folders, file = inside.split("/")
        if any(skipped(f, True) for f in folders) or skipped(file, False):
            continue
        if mode == b"120000" or kind != b"blob":
            raise _problem(span, f"step package at {revision} holds {inside}, not a regular file")
        files.append((inside, sha, int(size)))
    if not files:
        return None
    if len(files) > MAX_FILES or sum(f[2] for f in files) > PACKAGE_BYTES:
        raise _problem(span, f"step package {name!r} at {revision} is larger than the bounds")
    shipped = []
    for (inside, _, _), data in zip(files, _blobs([sha for _, sha, _ in files]), strict=True):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _problem(span, f"step package file {inside} at {revision} is not UTF-8") from None
        shipped.append(ir.PackageFile(inside, data))
    shipped.sort(key=lambda f: f.path)
    return ir.CodePackage(name, package_digest(tuple(shipped)), tuple(shipped))


def _blobs(shas: list[bytes]) -> list[bytes]:
    """The contents of blobs, in order, from one `git cat-file --batch`."""
    out = _git("cat-file", "--batch", stdin=b"".join(sha + b"\n" for sha in shas))
    contents, at = [], 0
    for _ in shas:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        contents.append(out[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1  # each content ends with a newline
    return contents


def _problem(span: Span, message: str) -> SpecError:
    return SpecError(
        [Diagnostic(span, "MS104", message, "keep the step package to its source files")]
    )


def _git(*args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], input=stdin, capture_output=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise SourceError("git is not installed") from None
    if done.returncode != 0:
        raise SourceError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
