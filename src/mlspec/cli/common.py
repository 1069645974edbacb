"""What every command shares: exit codes, output formats, diagnostics reports, target lookup."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import click
import click.shell_completion
from click.decorators import FC

from mlspec.diagnostics import Diagnostic, SpecError, render

if TYPE_CHECKING:
    from mlspec.api import Compiled
    from mlspec.backends.base import Backend
    from mlspec.compiler import Analysis

Format = Literal["text", "json", "github"]
EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to print diagnostics: for people, for tools, or as GitHub Actions annotations.",
)


def result_format(help_text: str) -> Callable[[FC], FC]:
    """`--format text|json` for a command that prints a result: one convention everywhere."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help_text,
    )


class TargetChoice(click.Choice[str]):
    """The targets that can do something (e.g. deploy), read from the registry when first
    needed: building the command line imports nothing a target needs."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self._names = names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: tuple[str, ...]) -> None:
        pass  # click.Choice.__init__ sets it; the registry answers instead


def complete_targets(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of --target: every known target, plug-ins included."""
    from mlspec.backends.registry import targets

    return [
        click.shell_completion.CompletionItem(t.name, help=t.summary)
        for t in targets().values()
        if t.name.startswith(incomplete)
    ]


class Report:
    """Collects diagnostics across files and prints them once, in the chosen format."""

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, str] = {}

    def add(self, diagnostics: Sequence[Diagnostic], name: str, raw: bytes) -> None:
        self.diagnostics += diagnostics
        self.sources[name] = raw.decode("utf-8", errors="replace")

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def emit(self) -> None:
        if self.fmt == "json":
            click.echo(render(self.diagnostics, "json", self.sources), nl=False)
        elif self.diagnostics:
            stream_err = self.fmt == "text"
            click.echo(render(self.diagnostics, self.fmt, self.sources), nl=False, err=stream_err)


def analyze(path: str, report: Report) -> Analysis | None:
    """Run the front end on one file; None (and diagnostics in the report) if it failed."""
    from mlspec.compiler.source import read_bytes

    try:
        raw = read_bytes(path)
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return analyzed(raw, path, report)


def analyzed(raw: bytes, path: str, report: Report) -> Analysis | None:
    """The front end on a spec's bytes; None (and diagnostics in the report) if it failed."""
    from mlspec.compiler import analyze_bytes

    try:
        analysis = analyze_bytes(raw, path)
    except SpecError as exc:
        report.add(exc.diagnostics, path, raw)
        return None
    report.add(list(analysis.warnings), path, raw)
    return analysis


def checked(path: str) -> Analysis:
    """The analysis of a spec that commands other than validate and compile act on: its
    problems are printed, and the command ends with exit code 1 if it has errors."""
    report = Report("text")
    analysis = analyze(path, report)
    report.emit()
    if analysis is None:
        sys.exit(EXIT_SPEC)
    return analysis


def target_checked(spec: str, target: str, analysis: Analysis, *, emit: bool = False) -> Compiled:
    """The pipeline compiled for `target` (checked only, unless `emit`), after printing what
    the target says about it (warnings too: a step that will fail there is worth saying
    before it runs); exit with code 1 on an error."""
    from mlspec.api import compile_pipeline

    compiled = compile_pipeline(analysis, target, emit=emit)
    if compiled.diagnostics:
        report = Report("text")
        report.add(compiled.diagnostics, spec, analysis.source.text.encode())
        report.emit()
        if report.failed:
            sys.exit(EXIT_SPEC)
    return compiled


def require(*extras: str, why: str) -> None:
    """Exit 2 with the install command when an optional extra the command needs is missing."""
    from mlspec.extras import ExtraMissing
    from mlspec.extras import require as required

    try:
        required(*extras, why=why)
    except ExtraMissing as exc:
        raise click.UsageError(str(exc)) from None


def to_stderr(line: str) -> None:
    """Progress, where --format json keeps stdout for the JSON."""
    click.echo(line, err=True)


def why(exc: OSError) -> str:
    """An OSError for people: the reason, and the path it concerns."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def backend(name: str) -> Backend:
    """The back end of a target; unknown or unavailable targets are usage errors."""
    from mlspec.backends.registry import TargetUnavailable, UnknownTarget, get, targets

    try:
        return get(name).load()
    except UnknownTarget:
        from mlspec.names import suggest

        close = suggest(name, targets())
        hint = f" {close[0].upper()}{close[1:]}" if close else ""
        raise click.UsageError(f"unknown target {name!r}.{hint} See `mlspec targets`.") from None
    except TargetUnavailable as exc:
        raise click.UsageError(str(exc)) from None


env_option = click.option(
    "--env",
    "environment",
    metavar="NAME",
    help="Act on the spec as it runs in this environment (its `environments` entry).",
)


def in_environment(analysis: Analysis, path: str, name: str | None) -> Analysis:
    """`analysis` bound to environment `name` (--env), or as written when None; a spec error
    (MS270 for an environment the spec does not declare) is printed and exits with code 1."""
    if name is None:
        return analysis
    try:
        return analysis.for_environment(name)
    except SpecError as exc:
        report = Report("text")
        report.add(exc.diagnostics, path, analysis.source.text.encode())
        report.emit()
        sys.exit(EXIT_SPEC)
