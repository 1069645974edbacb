"""Before a deploy whose workers clone the flow: the pinned commit holds what was compiled.

Workers run the files at `<commit>:<code.git.path>`, while the deploy applies the prefect.yaml
compiled here: if the two differ (an unpushed edit, a commit pinned before the last compile),
the reviewed flow is not what runs. Where the repository can be read here (a local path or
file:// URL, or this work tree when it holds the commit), every file the workers load is
compared by its git blob id; a remote repository is not fetched, and the deploy says so.
prefect.yaml itself is left out: it names the commit, so the committed one predates the pin.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlspec.backends.base import Artifact
from mlspec.compiler import ir
from mlspec.deploy.common import DeployError

GIT_SECONDS = 60.0


def check(
    git: ir.GitSource, files: tuple[Artifact, ...], spec: Path, echo: Callable[[str], None]
) -> None:
    """DeployError when the commit's compiled folder differs from `files` (the flow, its
    runtime, its step packages); a note when the repository cannot be read here."""
    short = git.commit[:12]
    if shutil.which("git") is None:
        echo(f"note: commit {short} not compared with the compiled files: git is not installed")
        return
    repository = _local(git.url)
    if repository is None:
        repository = _work_tree(spec.parent)
        if repository is None or not _has(repository, git.commit):
            echo(
                f"note: commit {short} not compared with the compiled files: {git.url} is "
                "remote and this work tree does not hold it"
            )
            return
    elif not _has(repository, git.commit):
        raise DeployError(
            f"the repository {git.url} has no commit {git.commit}: the workers could not "
            "clone it (commit and push the compiled folder, then pin that commit)"
        )
    committed = _blobs(repository, git.commit, git.path)
    differ = sorted(f.path for f in files if committed.get(f.path) != _blob_id(f.text))
    if differ:
        shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
        raise DeployError(
            f"commit {short} of {git.url} does not hold the flow compiled here: {shown} "
            f"differ in {git.path}/ (the workers would run other code than was reviewed)\n"
            "  compile, commit the compiled folder, pin that commit in code.git.commit, compile "
            "again and deploy. Nothing was changed"
        )
    echo(f"commit {short} holds the compiled flow ({len(files)} files in {git.path}/)")


def _local(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    return Path(url) if url.startswith("/") else None


def _git(repository: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(repository), *args],
        capture_output=True,
        timeout=GIT_SECONDS,
        check=False,
    )


def _work_tree(folder: Path) -> Path | None:
    done = _git(folder, "rev-parse", "--show-toplevel")
    return Path(done.stdout.decode().strip()) if done.returncode == 0 else None


def _has(repository: Path, commit: str) -> bool:
    return _git(repository, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _blobs(repository: Path, commit: str, path: str) -> dict[str, str]:
    """Each file under `path` at `commit`, relative to it, with its blob id."""
    prefix = "" if path == "." else f"{path}/"
    done = _git(repository, "ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".")
    if done.returncode != 0:
        raise DeployError(f"reading commit {commit[:12]}: {done.stderr.decode().strip()}")
    found: dict[str, str] = {}
    for entry in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, name = entry.partition("\t")  # "<mode> <type> <id>\t<path>"
        _, kind, blob = [*meta.split(" "), "", ""][:3]
        if kind == "blob" and name.startswith(prefix):
            found[name[len(prefix) :]] = blob
    return found


def _blob_id(text: str) -> str:
    """The id git gives a file with this text (sha1 of 'blob <size>\\0<bytes>')."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
