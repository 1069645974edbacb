"""Step tests (`tests:`): what each names must exist in the spec and fit the step it tests.

A test runs one Python step in-process on fixtures (`mlspec test`), so every input that reads
an upstream step needs a fixture of the right kind, expectations must fit the output's type,
and a gate it judges must be a data gate on the step's own outputs. Whether the fixture files
exist is `mlspec test`'s to say (MS264, testing/runner.py): a spec copied without them still
validates and compiles.
"""

from __future__ import annotations

from mlspec.compiler import fanout
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.source import PathKey
from mlspec.compiler.spec import (
    ArtifactType,
    InputBinding,
    Step,
    StepTest,
    StepTestExpectation,
    StepTestInput,
)
from mlspec.names import suggest

ARTIFACTS: tuple[ArtifactType, ...] = ("dataset", "model", "metrics", "artifact")
ITEM_HINTS = {
    "str": "quote a str that looks like a number",
    "int": "write an int value",
    "float": "write a float value",
}
_VALUE_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def check_tests(c: Checker) -> None:
    for name, test in c.spec.tests.items():
        base: PathKey = ("tests", name)
        step = c.spec.steps.get(test.step)
        if step is None:
            c.error(
                (*base, "step"),
                "MS260",
                f"test {name!r} names unknown step {test.step!r}",
                suggest(test.step, c.spec.steps) or f"steps: {', '.join(c.spec.steps)}",
            )
            continue
        if step.container is not None:
            c.error(
                (*base, "step"),
                "MS260",
                f"test {name!r} names container step {test.step!r}, which cannot run in-process",
                "step tests call a Python step's function or run a notebook; test a container's "
                "image on its own",
            )
            continue
        if not _item(c, name, test, step, base):
            continue
        _inputs(c, name, test, step, base)
        for output, expectation in test.expect.items():
            _expectation(c, name, test, step, output, expectation)
        for i, gate in enumerate(test.gates):
            _gate(c, name, test, step, gate, (*base, "gates", i))


def _item(c: Checker, name: str, test: StepTest, step: Step, base: PathKey) -> bool:
    """A test of a looped step runs one iteration: `item` gives its element, of the list's
    type; a step that runs once has none. False: the test cannot run."""
    if step.for_each is None:
        if test.item is not None:
            c.error(
                (*base, "item"),
                "MS261",
                f"test {name!r} gives an item, but step {test.step!r} has no for_each",
                "remove `item:`; give the step's inputs as fixtures",
            )
        return test.item is None
    if test.item is None:
        c.error(
            (*base, "step"),
            "MS260",
            f"test {name!r} names step {test.step!r}, which runs in a loop, once per "
            "for_each element",
            "a test runs one iteration: say which with `item: ELEMENT`",
        )
        return False
    kind = fanout.item_type(c.spec, step.for_each) if _typed(c, step.for_each) else None
    if kind is not None and not _fits(test.item, kind):
        c.error(
            (*base, "item"),
            "MS261",
            f"item {test.item!r} of test {name!r} is not of type {kind}, the type of the "
            f"elements step {test.step!r} loops over",
            ITEM_HINTS[kind],
        )
        return False
    return True


def _typed(c: Checker, for_each: fanout.ForEach) -> bool:
    """Whether the list has one element type (else checks.fanout reports it)."""
    param = fanout.list_param(for_each)
    if param is not None:
        declared = c.spec.params.get(param)
        return declared is not None and declared.type.startswith("list[")
    return not isinstance(for_each, str) and len({type(i) for i in for_each}) == 1


def _fits(value: object, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, _VALUE_TYPES[kind])


def _input_type(c: Checker, binding: InputBinding) -> str | None:
    if binding.type is not None:
        return binding.type
    if binding.from_ is None:
        value = binding.value
        return "bool" if isinstance(value, bool) else type(value).__name__
    head, _, tail = binding.from_.partition(".")
    if head == "params":
        param = c.spec.params.get(tail)
        return param.type if param else None
    step = c.spec.steps.get(head)
    return step.outputs.get(tail) if step else None


def _upstream(binding: InputBinding) -> bool:
    return binding.from_ is not None and not binding.from_.startswith("params.")


def _inputs(c: Checker, name: str, test: StepTest, step: Step, base: PathKey) -> None:
    for key, given in test.inputs.items():
        path = (*base, "inputs", key)
        binding = step.inputs.get(key)
        if binding is None:
            c.error(
                path,
                "MS261",
                f"step {test.step!r} has no input {key!r} (test {name!r})",
                suggest(key, step.inputs) or f"its inputs: {', '.join(step.inputs) or 'none'}",
                key=True,
            )
            continue
        if binding.item:
            c.error(
                path,
                "MS261",
                f"input {key!r} of step {test.step!r} reads the loop's element (test {name!r})",
                "give the element as the test's `item:`",
                key=True,
            )
            continue
        kind = _input_type(c, binding)
        if kind is None:
            continue  # an unknown reference: reported at the step
        _fixture_fits(c, name, key, kind, given, path)
    for key, binding in step.inputs.items():
        if _upstream(binding) and key not in test.inputs:
            kind = _input_type(c, binding)
            how = "{file: PATH}" if kind in ARTIFACTS else "a value"
            c.error(
                base,
                "MS261",
                f"test {name!r} gives no fixture for input {key!r} of step {test.step!r}, "
                f"which reads {binding.from_}",
                f"add `inputs: {{{key}: {how}}}` to the test: it runs the step alone",
                key=True,
            )


def _fixture_fits(
    c: Checker, name: str, key: str, kind: str, given: StepTestInput, path: PathKey
) -> None:
    if kind in ARTIFACTS:
        if given.file is None:
            c.error(
                path,
                "MS261",
                f"input {key!r} is a {kind}: test {name!r} must give it a fixture file",
                "write {file: PATH}, relative to the spec's folder",
            )
        return
    if given.file is not None:
        c.error(
            (*path, "file"),
            "MS261",
            f"input {key!r} is a {kind} value, not a file (test {name!r})",
            "give the value itself, e.g. a number or {value: TEXT}",
        )
        return
    value = given.value
    if not isinstance(value, _VALUE_TYPES[kind]) or (kind != "bool" and isinstance(value, bool)):
        c.error(
            path if (*path, "value") not in c.source.values else (*path, "value"),
            "MS261",
            f"input {key!r} of test {name!r} is a {kind}, not {type(value).__name__}",
            f"give a {kind}",
        )


def _expectation(
    c: Checker, name: str, test: StepTest, step: Step, output: str, expected: StepTestExpectation
) -> None:
    path = ("tests", name, "expect", output)
    kind = step.outputs.get(output)
    if kind is None:
        c.error(
            path,
            "MS262",
            f"step {test.step!r} has no output {output!r} (test {name!r})",
            suggest(output, step.outputs) or f"its outputs: {', '.join(step.outputs) or 'none'}",
            key=True,
        )
        return
    allowed = {"dataset": ("columns", "rows"), "float": ("min", "max"), "int": ("min", "max")}
    for field in ("columns", "rows", "min", "max"):
        if getattr(expected, field) is not None and field not in allowed.get(kind, ()):
            fits = ", ".join(allowed.get(kind, ())) or "nothing but that it exists"
            c.error(
                (*path, field),
                "MS262",
                f"'{field}' does not apply to {kind} output {output!r} (test {name!r})",
                f"a {kind} output can be expected to have: {fits}",
                key=True,
            )


def _gate(c: Checker, name: str, test: StepTest, step: Step, gate: str, path: PathKey) -> None:
    found = c.spec.gates.get(gate)
    if found is None:
        c.error(
            path,
            "MS263",
            f"test {name!r} names unknown gate {gate!r}",
            suggest(gate, c.spec.gates) or f"gates: {', '.join(c.spec.gates) or 'none'}",
        )
        return
    if found.dataset is None:
        c.error(
            path,
            "MS263",
            f"gate {gate!r} is not a data gate: test {name!r} can only judge data gates",
            "model and serving gates need metrics and a registry or a server: run them with "
            "`mlspec run`",
        )
        return
    head = found.dataset.partition(".")[0]
    if head != test.step:
        c.error(
            path,
            "MS263",
            f"gate {gate!r} checks {found.dataset}, not an output of step {test.step!r}",
            f"name the gate in a test of step {head!r}",
        )
        return
    fixtures = {
        binding.from_
        for key, binding in step.inputs.items()
        if key in test.inputs and test.inputs[key].file is not None
    }
    for check in found.checks or ():
        reference = check.drift.reference if check.drift is not None else None
        if reference and reference.partition(".")[0] != test.step and reference not in fixtures:
            c.error(
                path,
                "MS263",
                f"drift reference {reference} of gate {gate!r} is neither an output of step "
                f"{test.step!r} nor a fixture of test {name!r}",
                "judge the gate in a test whose step produces the reference, or reads it as an "
                "input the test gives a file",
            )
