"""Changes to where a Python step's code comes from: its step package (pinned by a digest of
its files), the image that holds it, the wheel location and the pinned git commit.

A step package changes without a line of the spec changing; the digest in the IR is what
tells, so a reviewer reads "step package breast_cancer changed" beside the spec's own changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Bump, Change, Path, show

SHORT = 12  # hex digits of a digest or commit shown: enough to tell two apart


def runs_on_code_image(a: ir.Step, b: ir.Step) -> bool:
    """Both sides run on their code.image: a change of it is the step's image change."""
    return all(
        s.code is not None and s.code.image is not None and s.image == s.code.image for s in (a, b)
    )


def compare_code(
    a: ir.Step, b: ir.Step, change: Callable[..., Change], base: Path, code_bump: Bump
) -> Iterator[Change]:
    """The changes of `a.code` -> `b.code`; a step that became or stopped being a Python step
    gains or loses its code as a whole (one change: its function's change says the rest)."""
    where = (*base, "code")
    if (a.code is None) != (b.code is None):
        code = a.code or b.code
        assert code is not None
        what = f"step package {code.package.name}" if code.package else "no step package"
        yield change(
            f"code {'added' if a.code is None else 'removed'} ({what})",
            "review",
            "it runs other code",
            code_bump,
            where,
        )
        return
    old_package, new_package = (s.code.package if s.code else None for s in (a, b))
    if old_package != new_package:
        yield change(
            _package(old_package, new_package),
            "review",
            "it runs other code than was reviewed before",
            code_bump,
            (*where, "package"),
        )
    old_image, new_image = (s.code.image if s.code else None for s in (a, b))
    if old_image != new_image:
        ran = ((*base, "image"),) if runs_on_code_image(a, b) else ()
        yield change(
            f"code.image {show(old_image)} -> {show(new_image)}",
            "review",
            "its code comes from another image",
            code_bump,
            (*where, "image"),
            *ran,
        )
    old_wheels, new_wheels = (s.code.wheels if s.code else None for s in (a, b))
    if old_wheels != new_wheels:
        yield change(
            f"code.wheels {show(old_wheels)} -> {show(new_wheels)}",
            "review",
            "its code is installed from another place",
            "pipeline",
            (*where, "wheels"),
        )
    old_git, new_git = (s.code.git if s.code else None for s in (a, b))
    if _pinned(old_git) != _pinned(new_git):
        yield change(
            _git(old_git, new_git),
            "review",
            "workers pull other code",
            code_bump,
            (*where, "git"),
        )


def _package(old: ir.CodePackage | None, new: ir.CodePackage | None) -> str:
    if old is None:
        assert new is not None
        return f"step package {new.name} now found beside the spec (digest {_short(new)})"
    if new is None:
        return (
            f"step package {old.name} no longer beside the spec (was digest {_short(old)}): "
            "an image or packages must provide it"
        )
    if old.name != new.name:
        return f"step package {old.name} ({_short(old)}) -> {new.name} ({_short(new)})"
    files = _files_changed(old, new)
    return f"step package {new.name} changed: digest {_short(old)} -> {_short(new)} ({files})"


def _files_changed(old: ir.CodePackage, new: ir.CodePackage) -> str:
    before = {f.path: f.data for f in old.files}
    after = {f.path: f.data for f in new.files}
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f"{shown}" if changed else "same files"


def _git(old: ir.GitSource | None, new: ir.GitSource | None) -> str:
    def text(git: ir.GitSource | None) -> str:
        if git is None:
            return "none"
        path = "" if git.path == "." else f", path {git.path}"
        return f"{git.url} at {git.commit[:SHORT]}{path}"

    if old is not None and new is not None and (old.url, old.path) == (new.url, new.path):
        return f"code.git commit {old.commit[:SHORT]} -> {new.commit[:SHORT]}"
    return f"code.git {text(old)} -> {text(new)}"


def _pinned(git: ir.GitSource | None) -> tuple[str, str, str] | None:
    """What a git source says, without where the spec says it."""
    return None if git is None else (git.url, git.commit, git.path)


def _short(package: ir.CodePackage) -> str:
    return package.digest[:SHORT]
