"""Positions, diagnostics and their rendering: the only place positions are formatted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file; lines and columns are 1-based, the end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    code: str
    message: str
    hint: str | None = None
    severity: Severity = "error"
    redact: str | None = None  # a secret in the spec text, which the excerpt masks

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)


class SpecError(Exception):
    """Raised by a stage that found problems; carries every diagnostic of that stage."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__(f"{len(self.diagnostics)} problem(s) in the spec")


def render(
    diagnostics: Iterable[Diagnostic],
    fmt: Literal["text", "json", "github"],
    sources: dict[str, str],
) -> str:
    """Render diagnostics; `sources` maps file names to their text, for the excerpts."""
    items = sorted(diagnostics, key=Diagnostic.sort_key)
    if fmt == "json":
        import json

        return json.dumps([_as_json(d) for d in items], indent=2, ensure_ascii=False) + "\n"
    if fmt == "github":
        return "".join(_as_github(d) + "\n" for d in items)
    lines_of = {name: text.splitlines() for name, text in sources.items()}
    for d in items:  # a secret is masked in every excerpt, also in another diagnostic's
        if d.redact and 1 <= d.span.line <= len(lines_of.get(d.span.file, [])):
            lines = lines_of[d.span.file]
            lines[d.span.line - 1] = _masked(lines[d.span.line - 1], d)
    return "".join(_as_text(d, lines_of.get(d.span.file, [])) for d in items)


def _as_json(d: Diagnostic) -> dict[str, object]:
    s = d.span
    return {
        "file": s.file,
        "line": s.line,
        "column": s.col,
        "end_line": s.end_line,
        "end_column": s.end_col,
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
    }


# Columns of a source line shown in an excerpt: a longer line (a minified spec, a file of NUL
# bytes) is shown as this window around the caret, cut with an ellipsis on either side.
EXCERPT_WIDTH = 200
_CUT = "\u2026"


def _as_text(d: Diagnostic, lines: list[str]) -> str:
    s = d.span
    out = [f"{s}: {d.severity}[{d.code}]: {d.message}\n"]
    if 1 <= s.line <= len(lines):
        line = lines[s.line - 1]
        end = s.end_col if s.end_line == s.line else len(line) + 1
        text, caret = _excerpt(line, s.col - 1, max(s.col, end) - 1)
        gutter = " " * len(str(s.line))
        out.append(f"{gutter} |\n{s.line} | {text}\n{gutter} | {caret}\n")
        if d.hint:
            out.append(f"{gutter} = hint: {d.hint}\n")
    elif d.hint:
        out.append(f"  = hint: {d.hint}\n")
    return "".join(out)


def _masked(line: str, d: Diagnostic) -> str:
    """The line with the diagnostic's secret masked by as many '*' within its span (so that
    the caret still lines up, and text around the span stays readable)."""
    if not d.redact:
        return line
    s = d.span
    start, end = s.col - 1, s.end_col - 1 if s.end_line == s.line else len(line)
    part = line[start:end]
    for secret in d.redact.splitlines():
        if secret.strip():
            part = part.replace(secret, "*" * len(secret))
    return line[:start] + part + line[end:]


def _excerpt(line: str, start: int, end: int) -> tuple[str, str]:
    """The line as shown (at most EXCERPT_WIDTH columns plus the ellipses) and its caret line,
    marking columns start..end (0-based, end exclusive)."""
    first, last = 0, len(line)
    if len(line) > EXCERPT_WIDTH:
        first = max(0, min(start - EXCERPT_WIDTH // 4, len(line) - EXCERPT_WIDTH))
        last = first + EXCERPT_WIDTH
    before = _CUT if first > 0 else ""
    text = before + _visible(line[first:last]) + (_CUT if last < len(line) else "")
    if last < len(line):  # the caret stops at the ellipsis
        end = min(end, last + 1)
    marked = max(1, end - start)
    return text, " " * (len(before) + start - first) + "^" * marked


def _visible(line: str) -> str:
    """One character per column, control characters shown as their Unicode pictures."""
    return "".join(
        " "
        if c == "\t"
        else chr(0x2400 + ord(c))
        if ord(c) < 0x20
        else "\u2421"
        if c == "\x7f"
        else c
        for c in line
    )


def _as_github(d: Diagnostic) -> str:
    # Workflow-command escaping: https://github.com/actions/toolkit (core/src/command.ts)
    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    s = d.span
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    props = ",".join(
        [
            f"file={prop(s.file)}",
            f"line={s.line}",
            f"col={s.col}",
            f"endLine={s.end_line}",
            f"endColumn={s.end_col}",
            f"title={prop(d.code)}",
        ]
    )
    return f"::{d.severity} {props}::{data(message)}"
