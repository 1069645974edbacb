"""Reviewing a spec change: diff."""

from __future__ import annotations

import sys

import click

from mlspec.cli.common import EXIT_OK, EXIT_SPEC, Report
from mlspec.diagnostics import SpecError


@click.command("diff")
@click.argument("sides", nargs=-1, metavar="[OLD NEW | PATHS]")
@click.option(
    "--base",
    metavar="REV",
    help="Compare every spec changed since REV (git), optionally under PATHS only.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="For terminals, a pull-request comment, or tools.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["risky", "any", "never"]),
    default="never",
    show_default=True,
    help="Exit 1 when there is a risky change, any change, or never.",
)
def diff_(sides: tuple[str, ...], base: str | None, fmt: str, fail_on: str) -> None:
    """Say what a spec change does, in domain terms, with a risk level for each change.

    OLD and NEW are files or REV:path read from git, e.g.
    `mlspec diff origin/main:specs/fraud.yaml specs/fraud.yaml`; `--base REV [PATHS]` compares
    every spec that changed since REV (under PATHS), or whose folder's code did. Also checks that
    the version was bumped enough for what changed. When no spec changed, it says so on stderr
    and prints nothing (JSON: no files), so CI can skip its comment.
    """
    from mlspec.diff import diff
    from mlspec.diff import render as show
    from mlspec.diff.sources import SourceError, changed_since, read

    if base is None and len(sides) != 2:
        raise click.UsageError("give OLD and NEW, or --base REV [PATHS]")
    report = Report("text")
    try:
        pairs = changed_since(base, sides) if base else [(read(sides[0]), read(sides[1]))]
    except SourceError as exc:
        raise click.UsageError(str(exc)) from None
    except SpecError as exc:  # a side too large or not UTF-8
        report.add(exc.diagnostics, exc.diagnostics[0].span.file, b"")
        report.emit()
        sys.exit(EXIT_SPEC)
    if not pairs:  # --base, and no spec changed: stdout stays empty (JSON: no files)
        under = f" under {' '.join(sides)}" if sides else ""
        click.echo(f"no spec changed since {base}{under}", err=True)
        if fmt == "json":
            click.echo(show.as_json([]), nl=False)
        sys.exit(EXIT_OK)
    diffs = []
    for old, new in pairs:
        try:
            diffs.append(diff(old, new))
        except SpecError as exc:
            for side in (old, new):
                report.add(
                    [d for d in exc.diagnostics if d.span.file == side.label],
                    side.label,
                    (side.text or "").encode(),
                )
    report.emit()
    if report.failed:
        sys.exit(EXIT_SPEC)
    click.echo(
        {"text": show.text, "markdown": show.markdown, "json": show.as_json}[fmt](diffs), nl=False
    )
    changes = [c for d in diffs for c in d.changes]
    failed = {"risky": any(c.risk == "risky" for c in changes), "any": bool(changes)}
    sys.exit(EXIT_SPEC if failed.get(fail_on, False) else EXIT_OK)
