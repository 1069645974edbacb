"""Step tests on fixtures (`tests:` in a spec): `mlspec test`, and the same inside pytest.

`run_spec_tests(path)` runs a spec's tests and returns one `TestResult` each; the pytest plugin
(`mlspec.testing.plugin`) makes each test a pytest item.
"""

from __future__ import annotations

from pathlib import Path

from mlspec.testing.runner import TestResult, load, run_tests, selected

__all__ = ["TestResult", "run_spec_tests"]


def run_spec_tests(path: str | Path, keyword: str | None = None) -> list[TestResult]:
    """Run the step tests of the spec at `path` (those matching `keyword`, as pytest's -k).

    Raises OSError for an unreadable file and mlspec.diagnostics.SpecError for a spec with
    errors or a missing fixture (each diagnostic says where)."""
    analysis = load(Path(path))
    return run_tests(analysis, Path(path), selected(analysis.pipeline.tests, keyword))
