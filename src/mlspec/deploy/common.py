"""What every deploy shares: the plan and its steps, content-hash versions, bounded retries,
clean errors, atomic file writes.

A deploy compiles and checks everything locally before its first remote call (no partial
deploys), plans named steps from what the server has (a dry run prints them), applies them in
order with `apply` (a failure says what is done and what is not), names what it uploads by a
hash of the generated files (an unchanged spec is a no-op), retries only transient failures
(timeouts, 5xx; connection refused for a few seconds only) within a bounded total time, saying
each retry on stderr, and fails fast on authentication and validation errors with the server's
own answer. `--timeout` bounds all of its waiting.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mlspec.backends.base import Artifact

# "apply": an offline plan's create-or-update, which only the server's state could decide
Verb = Literal["create", "update", "unchanged", "delete", "apply"]
T = TypeVar("T")
C = TypeVar("C")  # what a plan's steps act on: a deploy's API client and what it learns

# A server that refuses connections this long is down, not restarting: retrying it for the whole
# retry time would only delay the error.
REFUSED_SECONDS = 5.0
MAX_WAIT = 10.0  # the longest pause between two attempts


class DeployError(Exception):
    """The deploy stopped; the message says what happened and what is left on the server."""


class TimedOut(DeployError):
    """`--timeout` ran out while the deploy was waiting."""


class SettingsError(DeployError):
    """A connection setting is missing or malformed: a usage error (exit 2), found before any
    remote call."""


class Transient(Exception):
    """A failure worth retrying: the server is unreachable, overloaded or restarting.
    `refused`: nothing accepted the connection, which is retried briefly only."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def is_refused(exc: BaseException) -> bool:
    """Whether a refused connection is anywhere in `exc`'s causes (httpx and urllib3 wrap the
    ConnectionRefusedError: as a cause, or as a MaxRetryError's `reason`)."""
    todo: list[object] = [exc]
    seen: set[int] = set()
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        if isinstance(item, ConnectionRefusedError):
            return True
        seen.add(id(item))
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None)]
    return False


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


OFFLINE = "offline: planned from the compiled files; the server was not asked"


@dataclass
class Plan:
    """What a deploy will do (dry run) or did."""

    target: str  # prefect, airflow or kubeflow
    version: str
    actions: list[Action] = field(default_factory=list)
    server: str = ""  # where, when the plan names it: "http://127.0.0.1:4200/api (server 3.9.1)"
    offline: bool = False  # made without the server: "apply" stands for create or update

    @property
    def changes(self) -> bool:
        return any(a.verb != "unchanged" for a in self.actions)

    def render(self) -> str:
        where = f" at {self.server}" if self.server else ""
        where += f" ({OFFLINE})" if self.offline else ""
        lines = [f"deploy to {self.target}{where}, version {self.version}:"]
        lines += [f"  {action}" for action in self.actions]
        if not self.changes:
            lines.append("  nothing to change")
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, object]:
        """The plan for tools (`mlspec deploy --format json`)."""
        return {
            "target": self.target,
            "server": self.server or None,
            "offline": self.offline,
            "version": self.version,
            "changes": self.changes,
            "actions": [{"verb": a.verb, "what": a.what, "detail": a.detail} for a in self.actions],
        }


@dataclass(frozen=True)
class Step(Generic[C]):
    """One planned action and the write that does it (None: nothing to do, e.g. "unchanged").
    `run` gets the deploy's context: its API client, and ids that earlier steps recorded."""

    action: Action
    run: Callable[[C], None] | None = None

    @property
    def brief(self) -> str:
        return f"{self.action.verb} {self.action.what}"


def apply(
    steps: Sequence[Step[C]],
    context: C,
    *,
    note: str,
    secrets: Iterable[str | None] = (),
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run each step's write in order. A failure stops the deploy with a DeployError that says
    what failed, what was done before it and what was not; `note` says what that leaves (and
    that deploying again finishes the job). `echo`, if given, says each step done."""
    writes = [step for step in steps if step.run is not None]
    done: list[str] = []
    for index, step in enumerate(writes):
        assert step.run is not None
        try:
            step.run(context)
        except Exception as exc:
            # A DeployError names its call; anything else (an OSError writing a file) its step.
            reason = (
                str(exc)
                if isinstance(exc, DeployError)
                else (f"{step.brief} failed: {type(exc).__name__}: {exc}")
            )
            undone = [s.brief for s in writes[index:]]
            raise DeployError(
                redact(
                    f"{reason}\n"
                    f"  done before the failure: {'; '.join(done) or 'nothing'}\n"
                    f"  not done: {'; '.join(undone)}\n"
                    f"  {note}",
                    *secrets,
                )
            ) from None
        done.append(step.brief)
        if echo is not None:
            echo(f"done: {step.brief}")


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file beside `path` and a rename: a worker or Airflow's dag
    processor never reads half a file (the temporary's name, `.<name>.*.tmp`, is skipped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o644)  # mkstemp makes it private; workers may run as another user
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class FileGroup:
    """Compiled files a plan shows as one action: a file, or a folder of them (the runtime
    package beside a DAG or flow is one folder, not one action per module)."""

    path: str  # the file, or the folder with a trailing "/"
    files: tuple[Artifact, ...]

    def what(self, root: Path) -> str:
        if self.path.endswith("/"):
            return f"folder {root / self.path.rstrip('/')}/ ({len(self.files)} files)"
        return f"file {root / self.path}"


def file_groups(artifacts: Iterable[Artifact]) -> list[FileGroup]:
    """Top-level files alone and each top-level folder's files together, in path order."""
    groups: dict[str, list[Artifact]] = {}
    for artifact in sorted(artifacts):
        folder, slash, _ = artifact.path.partition("/")
        groups.setdefault(folder + slash, []).append(artifact)
    return [FileGroup(path, tuple(files)) for path, files in groups.items()]


def content_version(artifacts: Iterable[Artifact]) -> str:
    """`mlspec-<12 hex>`: a hash of every generated file's path and text, in path order."""
    digest = hashlib.sha256()
    for artifact in sorted(artifacts):
        digest.update(artifact.path.encode() + b"\0" + artifact.text.encode() + b"\0")
    return f"mlspec-{digest.hexdigest()[:12]}"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Deadline:
    """`--timeout`: every wait of one deploy (retries, parsing, following a run) ends this many
    seconds after its first remote call (compiling and imports do not count); and where waiting
    is reported (stderr: stdout may carry the JSON plan)."""

    def __init__(
        self,
        seconds: float | None = None,
        notice: Callable[[str], None] = _to_stderr,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seconds = seconds  # None: no bound
        self.notice = notice
        self.clock = clock
        self.sleep = sleep
        self._at: float | None = None

    @property
    def at(self) -> float:
        """The end, on `clock`; it starts running when first asked for."""
        if self.seconds is None:
            return math.inf
        if self._at is None:
            self._at = self.clock() + self.seconds
        return self._at

    def left(self) -> float:
        return self.at - self.clock()

    def expired(self, what: str) -> TimedOut:
        return TimedOut(f"{what}: stopped waiting after --timeout {self.seconds:g} s")

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise self.expired(what)

    def pause(self, seconds: float, what: str) -> None:
        """Sleep `seconds`, or until the deadline, which ends `what` with TimedOut."""
        self.check(what)
        self.sleep(min(seconds, self.left()))
        self.check(what)

    def bound(self, seconds: float) -> float:
        """A request's timeout, cut to the time left (at least a second, to say why)."""
        return min(seconds, max(self.left(), 1.0))


NO_DEADLINE = Deadline()


def retry(
    call: Callable[[], T],
    what: str,
    *,
    total_seconds: float = 60.0,
    first_wait: float = 0.5,
    deadline: Deadline = NO_DEADLINE,
) -> T:
    """`call()`, retried on `Transient` with doubling waits until `total_seconds` have passed
    (REFUSED_SECONDS while the connection is refused), or the deadline; each retry is said."""
    deadline.check(what)
    started = deadline.clock()
    wait, attempt, refused_since = first_wait, 0, None
    while True:
        attempt += 1
        try:
            return call()
        except Transient as exc:
            now = deadline.clock()
            if not exc.refused:
                refused_since = None
            elif refused_since is None:
                refused_since = now
            limits = {"total": started + total_seconds, "deadline": deadline.at}
            if refused_since is not None:
                limits["refused"] = refused_since + REFUSED_SECONDS
            bound = min(limits, key=limits.__getitem__)
            if now + wait > limits[bound]:
                tries = f"{attempt} attempt{'s' if attempt > 1 else ''} in {now - started:.1f} s"
                raise _gave_up(bound, what, exc, tries, total_seconds, deadline) from None
            planned = attempt + _attempts_within(limits[bound] - now, wait)
            deadline.notice(
                f"{what} failed: {exc} (attempt {attempt} of {planned}; next in {wait:g} s)"
            )
            deadline.sleep(wait)
            wait = min(wait * 2, MAX_WAIT)


def _attempts_within(seconds: float, wait: float) -> int:
    """How many more attempts the doubling waits, from `wait` on, fit into `seconds`."""
    count = 0
    while wait <= seconds:
        seconds -= wait
        count += 1
        wait = min(wait * 2, MAX_WAIT)
    return count


def _gave_up(
    bound: str, what: str, exc: Transient, tries: str, total: float, deadline: Deadline
) -> DeployError:
    if bound == "refused":
        return DeployError(
            f"{what}: the connection was refused ({exc}; {tries}); check that the server is "
            "running and that this is its address"
        )
    if bound == "deadline":
        return TimedOut(f"{deadline.expired(what)} ({exc}; {tries})")
    return DeployError(f"{what}: the server did not answer within {total:g} s ({exc})")


def shown_url(url: str) -> str:
    """The URL with any user:password replaced, fit to print."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials in a URL (`user:password`, and the password alone), to redact."""
    parts = urlsplit(url)
    return tuple(s for s in (parts.password, parts.netloc.rpartition("@")[0]) if s)


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
    deadline: Deadline = NO_DEADLINE  # --timeout, and where retries are said


@dataclass(frozen=True)
class Setting:
    """A connection setting a deployer declares: `mlspec deploy --NAME` (underscores as
    dashes), else the environment variable; it arrives in `Request.settings[name]`."""

    name: str
    env: str
    help: str
    # The server's URL: `deploy --env E` takes it from E's `deploy.<target>` unless the flag
    # names one (over the environment variable, which may be another environment's).
    server: bool = False


class DeployerModule(Protocol):
    """What a target's deploy module provides (the registry's `Deployer` names it)."""

    SETTINGS: tuple[Setting, ...]

    def deploy(self, request: Request) -> Plan: ...

    def offline_plan(self, request: Request) -> Plan: ...
