"""The pytest plugin (entry point `pytest11`): a spec's step tests as pytest items, one each.

Inert unless asked: name the specs in the ini option `mlspec_specs` (paths relative to the ini
file) or with `--mlspec-spec PATH`. pytest must still reach the spec file while collecting: keep
it under `testpaths`, or name it on the command line too. A spec with errors fails to collect,
with its diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mlspec.compiler import Analysis, ir


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "mlspec_specs", "mlspec specs whose step tests (tests:) run as pytest items", type="paths"
    )
    parser.addoption(
        "--mlspec-spec",
        action="append",
        default=[],
        metavar="PATH",
        help="An mlspec spec whose step tests run as pytest items (repeatable).",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    wanted = [*config.getini("mlspec_specs"), *config.getoption("mlspec_spec")]
    if wanted and file_path.resolve() in {Path(p).resolve() for p in wanted}:
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    """A spec: its step tests are the items."""

    def collect(self) -> Iterator[pytest.Item]:
        from mlspec.diagnostics import SpecError, render
        from mlspec.testing.runner import load

        try:
            analysis = load(self.path)
        except SpecError as exc:
            text = self.path.read_text(encoding="utf-8", errors="replace")
            shown = render(exc.diagnostics, "text", {str(self.path): text})
            raise self.CollectError(f"the spec has errors:\n{shown}") from None
        for test in analysis.pipeline.tests:
            yield SpecTestItem.from_parent(self, name=test.name, analysis=analysis, test=test)


class SpecTestFailed(Exception):
    """A step test that failed: its reasons and what the step printed."""


class SpecTestItem(pytest.Item):
    def __init__(self, *, analysis: Analysis, test: ir.StepTest, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.analysis = analysis
        self.test = test

    def runtest(self) -> None:
        from mlspec.testing.runner import run_test

        result = run_test(self.analysis, self.path, self.test)
        if not result.passed:
            lines = [*result.reasons]
            if result.output.strip():
                lines += ["", "output:", result.output.rstrip()]
            raise SpecTestFailed("\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SpecTestFailed):
            return f"step test {self.name!r} of step {self.test.step!r}:\n{excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.test.span.line - 1, f"step test {self.name} ({self.test.step})"
