"""Run a spec's step tests in-process: each test calls its step as every Python worker does
(runtime/tasks.run_python_step, the same calling convention), in a folder of its own, on its
fixtures, then judges the outputs and the data gates it names with the runtime's own checks.

No engine, registry or network: the step's function is imported from the spec's code root (the
folder `mlspec run` imports it from), fixture files are copied to where the step's upstream
outputs would be, and parameters keep the spec's defaults unless the test gives an input.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.backends.taskdata import gate_data, step_data
from mlspec.compiler import Analysis, ir
from mlspec.diagnostics import Diagnostic, SpecError
from mlspec.runtime.datachecks import run_data_gate
from mlspec.runtime.report import CheckResult, gate_report_from_json
from mlspec.runtime.tasks import (
    TASK_ARTIFACT_TYPES,
    GateFailed,
    Iteration,
    TaskRun,
    artifact_path,
    cast_value,
    execute_notebook,
    judge_gate,
    run_python_step,
)


@dataclass(frozen=True)
class TestResult:
    """One step test's outcome: `reasons` say why it failed; `output` is what it printed."""

    __test__ = False  # not a pytest test class

    spec: str
    name: str
    step: str
    reasons: tuple[str, ...]
    seconds: float
    output: str = ""

    @property
    def passed(self) -> bool:
        return not self.reasons


def load(spec_file: Path) -> Analysis:
    """The spec's analysis, with its fixture files found; SpecError for either's problems,
    OSError for an unreadable file."""
    from mlspec.compiler import analyze_file

    analysis = analyze_file(spec_file, str(spec_file))
    missing = missing_fixtures(analysis, spec_file)
    if missing:
        raise SpecError(missing)
    return analysis


def missing_fixtures(analysis: Analysis, spec_file: Path) -> list[Diagnostic]:
    """MS264 for each fixture that is not beside the spec. Only `mlspec test` asks: a spec
    copied without its fixtures still validates and compiles."""
    found = []
    for test in analysis.pipeline.tests:
        for given in test.inputs:
            where = spec_file.parent / given.file if given.file is not None else None
            if where is not None and not where.exists():
                path = ("tests", test.name, "inputs", given.name, "file")
                found.append(
                    Diagnostic(
                        analysis.source.span(path),
                        "MS264",
                        f"fixture {given.file!r} of test {test.name!r} not found",
                        f"no file or folder {where}; paths are relative to the spec's folder",
                    )
                )
    return found


def selected(tests: tuple[ir.StepTest, ...], keyword: str | None) -> list[ir.StepTest]:
    """The tests whose name or step contains `keyword` (all without one), as pytest's -k."""
    if not keyword:
        return list(tests)
    return [t for t in tests if keyword in t.name or keyword in t.step]


def run_tests(
    analysis: Analysis, spec_file: Path, tests: list[ir.StepTest] | None = None
) -> list[TestResult]:
    """Run `tests` (default: all of the spec's), in spec order."""
    pipeline = analysis.pipeline
    return [
        run_test(analysis, spec_file, test) for test in (pipeline.tests if tests is None else tests)
    ]


def run_test(analysis: Analysis, spec_file: Path, test: ir.StepTest) -> TestResult:
    started = time.perf_counter()
    captured = io.StringIO()
    with (
        tempfile.TemporaryDirectory(prefix="mlspec-test-") as folder,
        _artifact_root(folder),
        contextlib.redirect_stdout(captured),
        contextlib.redirect_stderr(captured),
    ):
        try:
            reasons = _run(analysis, spec_file, test, folder)
        except Exception as exc:  # the step raised: the test fails with the exception
            traceback.print_exc(file=captured)
            reasons = [f"step {test.step!r} raised {type(exc).__name__}: {exc}"]
    return TestResult(
        str(spec_file),
        test.name,
        test.step,
        tuple(reasons),
        time.perf_counter() - started,
        captured.getvalue(),
    )


def _run(analysis: Analysis, spec_file: Path, test: ir.StepTest, root: str) -> list[str]:
    pipeline = analysis.pipeline
    step = pipeline.step(test.step)
    data: dict[str, Any] = {**step_data(step), "code": None}  # imported from the code root
    inputs = dict(data["inputs"])
    types = {i.name: i.type for i in step.inputs}
    for given in test.inputs:
        if given.file is not None:  # where the upstream step would have written it
            _copy(
                spec_file.parent / given.file,
                _path(pipeline, root, test, *inputs[given.name]["artifact"]),
            )
        else:
            inputs[given.name] = {"value": cast_value(given.value, types[given.name])}
    data["inputs"] = inputs
    loop = pipeline.loop(step.loop) if step.loop is not None else None
    run = TaskRun(
        pipeline=pipeline.name,
        spec_version=pipeline.version,
        artifact_root=root,
        tracking_uri=None,
        registered_model=None,
        # The loop's other members only say they are in it: fixtures stand for their outputs.
        steps={**{m: {"loop": step.loop} for m in (loop.steps if loop else ())}, step.name: data},
        gates={g: gate_data(pipeline.gate(g)) for g in test.gates},
        promotions={},
        run_id=test.name,
        params={p.name: p.default for p in pipeline.params},
        results=_no_results,
        # A looped step's test runs one iteration, of the test's item, at index 0.
        loops={loop.name: {"value": [test.item]}} if loop else {},
        iteration=Iteration(loop.name, 0, test.item) if loop else None,
    )
    if step.notebook is not None:  # the notebook as compiled (read and validated once)
        scalars = execute_notebook(run, step.name, step.notebook.text) or {}
    else:
        with _importing(analysis, spec_file, step):
            scalars = run_python_step(run, step.name) or {}
    reasons = [
        f"output {o.name!r} was not written"
        for o in step.outputs
        if o.type in TASK_ARTIFACT_TYPES
        and not Path(_path(pipeline, root, test, step.name, o.name)).exists()
    ]
    for expected in test.expect:
        if expected.name in scalars:
            reasons += _number(expected, scalars[expected.name])
        elif Path(path := _path(pipeline, root, test, step.name, expected.name)).exists():
            reasons += _dataset(expected, path)
    for gate in test.gates:
        reasons += _gate(run, pipeline, root, test, gate)
    return reasons


def _path(pipeline: ir.Pipeline, root: str, test: ir.StepTest, step: str, output: str) -> str:
    """Where a step or gate writes `output` in the test's run: a loop member's (a per-item
    gate's), in its one iteration."""
    looped = any(step in (*lp.steps, *lp.gates) for lp in pipeline.loops)
    index = 0 if looped else None
    return artifact_path(root, pipeline.name, test.name, step, output, index)


def _no_results(step: str) -> Any:
    raise KeyError(f"step tests run one step: no result of {step!r}")  # the checks prevent it


def _copy(source: Path, destination: str) -> None:
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination)
    else:
        shutil.copyfile(source, destination)


def _number(expected: ir.TestExpectation, value: Any) -> list[str]:
    name = expected.name
    if expected.min is not None and value < expected.min:
        return [f"output {name!r} is {value!r}, below min {expected.min:g}"]
    if expected.max is not None and value > expected.max:
        return [f"output {name!r} is {value!r}, above max {expected.max:g}"]
    return []


def _dataset(expected: ir.TestExpectation, path: str) -> list[str]:
    checks: list[dict] = []
    if expected.columns:
        checks.append({"kind": "columns", "columns": dict(expected.columns)})
    if expected.min_rows is not None or expected.max_rows is not None:
        checks.append({"kind": "row_count", "min": expected.min_rows, "max": expected.max_rows})
    if not checks:
        return []
    report = run_data_gate(expected.name, path, checks)
    return [f"output {expected.name!r}: {_failed(c)}" for c in report.checks if not c.passed]


def _failed(check: CheckResult) -> str:
    measured = "n/a" if check.measured is None else f"{check.measured:g}"
    detail = f" ({check.detail})" if check.detail else ""
    return f"{check.check} {check.subject}: measured {measured}, wanted {check.threshold}{detail}"


def _gate(
    run: TaskRun, pipeline: ir.Pipeline, root: str, test: ir.StepTest, gate: str
) -> list[str]:
    try:
        passed = judge_gate(run, gate)
    except GateFailed:
        passed = False
    if passed:
        return []
    report_file = Path(_path(pipeline, root, test, gate, "report"))
    report = gate_report_from_json(report_file.read_text(encoding="utf-8"))
    failed = [_failed(c) for c in report.checks if not c.passed]
    return [f"gate {gate!r} did not pass: " + ("; ".join(failed) or report.reason)]


@contextlib.contextmanager
def _artifact_root(folder: str) -> Iterator[None]:
    """The test's folder as the artifact root, whatever the environment says."""
    saved = os.environ.get("MLSPEC_ARTIFACT_ROOT")
    os.environ["MLSPEC_ARTIFACT_ROOT"] = folder
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLSPEC_ARTIFACT_ROOT", None)
        else:
            os.environ["MLSPEC_ARTIFACT_ROOT"] = saved


@contextlib.contextmanager
def _importing(analysis: Analysis, spec_file: Path, step: ir.Step) -> Iterator[None]:
    """The step's package imported afresh from its code root beside the spec, and forgotten
    afterwards: each test sees the code as it is on disk, and a suite that imported the package
    from elsewhere gets its own modules back."""
    spec_step = analysis.spec.steps[step.name]
    code = spec_step.code or analysis.spec.defaults.code
    folder = str((spec_file.parent / (code.root if code else ".")).resolve())
    package = (step.function or "").partition(":")[0].partition(".")[0]

    def ours(name: str) -> bool:
        return name == package or name.startswith(package + ".")

    saved = {n: m for n, m in sys.modules.items() if ours(n)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        sys.path.remove(folder)
        for name in [n for n in sys.modules if ours(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
