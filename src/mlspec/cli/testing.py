"""`mlspec test`: a spec's step tests on fixtures, in-process, reported as pytest would."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlspec.cli.common import EXIT_OK, EXIT_SPEC, Report, analyze, result_format

if TYPE_CHECKING:
    from mlspec.testing.runner import TestResult


@click.command("test")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-k",
    "keyword",
    metavar="TEXT",
    help="Run only the tests whose name or step contains TEXT.",
)
@result_format("How to print the results: one line per test, or JSON for tools.")
def test_command(specs: tuple[str, ...], keyword: str | None, fmt: str) -> None:
    """Run the step tests of SPECS (`tests:`) on their fixtures, without an engine.

    Each test calls its Python step in-process, by the calling convention every target uses,
    in a temporary folder of its own, then checks the outputs it expects and the data gates it
    names. Exit 0 when every test passed, 1 when one failed or a spec has errors, 2 on usage
    errors (an unreadable file, -k matching no test).
    """
    from mlspec.testing.runner import missing_fixtures, run_tests, selected

    started = time.perf_counter()
    report = Report("text")
    results: list[TestResult] = []
    chosen = 0
    for spec in specs:
        analysis = analyze(spec, report)
        if analysis is None:
            continue
        missing = missing_fixtures(analysis, Path(spec))
        if missing:
            report.add(missing, spec, analysis.source.text.encode())
            continue
        tests = selected(analysis.pipeline.tests, keyword)
        chosen += len(tests)
        for test in tests:
            result = run_tests(analysis, Path(spec), [test])[0]
            results.append(result)
            if fmt == "text":
                _line(result)
    report.emit()
    if keyword and not chosen and not report.failed:
        raise click.UsageError(f"no test matches -k {keyword!r}")
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not r.passed]
    if fmt == "json":
        click.echo(json.dumps(_json(results, elapsed), indent=2))
    else:
        _summary(results, failed, elapsed)
    sys.exit(EXIT_SPEC if failed or report.failed else EXIT_OK)


def _line(result: TestResult) -> None:
    verdict = "PASSED" if result.passed else "FAILED"
    click.echo(f"{result.spec}::{result.name} {verdict} ({result.seconds:.2f}s)")
    for reason in result.reasons:
        click.echo(f"    {reason}")


def _summary(results: list[TestResult], failed: list[TestResult], elapsed: float) -> None:
    for result in failed:
        if result.output.strip():
            click.echo(f"---- {result.spec}::{result.name}: output ----")
            click.echo(result.output.rstrip())
    passed = len(results) - len(failed)
    parts = [f"{len(failed)} failed"] if failed else []
    parts.append(f"{passed} passed")
    if not results:
        parts = ["no tests ran"]
    click.echo(f"==== {', '.join(parts)} in {elapsed:.2f}s ====")


def _json(results: list[TestResult], elapsed: float) -> dict[str, object]:
    return {
        "tests": [
            {
                "spec": r.spec,
                "name": r.name,
                "step": r.step,
                "outcome": "passed" if r.passed else "failed",
                "reasons": list(r.reasons),
                "seconds": round(r.seconds, 3),
                "output": r.output,
            }
            for r in results
        ],
        "passed": sum(r.passed for r in results),
        "failed": sum(not r.passed for r in results),
        "seconds": round(elapsed, 3),
    }
