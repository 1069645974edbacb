"""What every deploy shares: the plan, content-hash versions, bounded retries, clean errors.

A deploy compiles and checks everything locally before its first remote call (no partial
deploys), names what it uploads by a hash of the generated files (an unchanged spec is a no-op),
retries only transient failures (connection refused, timeouts, 5xx) within a bounded total time,
and fails fast on authentication and validation errors with the server's own answer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from mlspec.backends.base import Artifact

Verb = Literal["create", "update", "unchanged", "delete"]
T = TypeVar("T")


class DeployError(Exception):
    """The deploy stopped; the message says what happened and what is left on the server."""


class Transient(Exception):
    """A failure worth retrying: the server is unreachable, overloaded or restarting."""


class UnexpectedAnswer(Exception):
    """The server answered, but not what its API answers there (not JSON, a JSON value of the
    wrong shape): a wrong URL, a proxy's or a login page, an incompatible server version."""


def unexpected_answer(what: str, server: str, problem: object) -> DeployError:
    """The DeployError for an answer no such API sends: it names the server and what was
    wrong, and is never retried (the same URL would answer the same)."""
    who = "it" if server in what else server  # "reaching <server>: it answered ..."
    return DeployError(
        f"{what}: {who} answered with something its API does not send ({problem}); check "
        "that the URL is the API's, not a proxy's or a login page"
    )


def answer_problem(exc: Exception) -> str:
    """One line on why an answer could not be read: pydantic's first complaint (a whole
    ValidationError runs to dozens of lines), or the start of a body that is not JSON."""
    import pydantic

    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        count = exc.error_count()
        problems = f"{count} problem{'s' if count > 1 else ''}"
        return f"{problems} as {exc.title}, the first at {where}: {first['msg']}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {' '.join(exc.doc.split())[:80]!r}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass(frozen=True)
class Action:
    verb: Verb
    what: str  # e.g. "deployment fraud-detector/fraud-detector"
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.verb:9} {self.what}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Plan:
    """What a deploy will do (dry run) or did."""

    target: str
    version: str
    actions: list[Action] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return any(a.verb != "unchanged" for a in self.actions)

    def render(self) -> str:
        lines = [f"deploy to {self.target}, version {self.version}:"]
        lines += [f"  {action}" for action in self.actions]
        if not self.changes:
            lines.append("  nothing to change")
        return "\n".join(lines) + "\n"


def content_version(artifacts: Iterable[Artifact]) -> str:
    """`mlspec-<12 hex>`: a hash of every generated file's path and text, in path order."""
    digest = hashlib.sha256()
    for artifact in sorted(artifacts):
        digest.update(artifact.path.encode() + b"\0" + artifact.text.encode() + b"\0")
    return f"mlspec-{digest.hexdigest()[:12]}"


def retry(
    call: Callable[[], T],
    what: str,
    *,
    total_seconds: float = 60.0,
    first_wait: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`call()`, retried on `Transient` with doubling waits until `total_seconds` have passed."""
    deadline = clock() + total_seconds
    wait = first_wait
    while True:
        try:
            return call()
        except Transient as exc:
            if clock() + wait > deadline:
                raise DeployError(
                    f"{what}: the server did not answer within {total_seconds:g} s ({exc})"
                ) from None
            sleep(wait)
            wait = min(wait * 2, 10.0)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every non-empty secret replaced, for messages that echo server answers."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Request:
    """One deploy, as the CLI asks for it: everything is compiled and checked already."""

    spec_path: str
    pipeline: object  # mlspec.compiler.ir.Pipeline (untyped here to keep imports light)
    artifacts: tuple[Artifact, ...]  # what `compile --target <target>` writes
    version: str  # content_version(artifacts)
    settings: dict[str, str | None]  # connection settings, flags over environment
    dry_run: bool = False
    run: bool = False  # trigger a run after deploying
    wait: bool = False  # follow that run to a final state
    echo: Callable[[str], None] = print  # progress lines (never secrets)
