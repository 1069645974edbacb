"""Changes to the step tests (`tests:`): what CI checks of each step before it runs.

Tests run under `mlspec test`, not in the pipeline, so none needs a version bump; the IR keeps
them out of the generic walk (metadata dump=False), and this rule covers them whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff import fields
from mlspec.diff.model import Change, at, keyed


def compare_tests(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before = keyed(old.tests, _name)
    after = keyed(new.tests, _name)
    for name in sorted(before.keys() - after.keys()):
        yield Change(
            f"test {name}",
            f"removed (it tested step {before[name].step})",
            "risky",
            "a step test that CI ran no longer guards the step",
            None,
            covers=(("tests", at(name)),),
        )
    for name in sorted(after.keys() - before.keys()):
        yield Change(
            f"test {name}",
            f"added (tests step {after[name].step})",
            "safe",
            "one more step test runs in CI",
            None,
            covers=(("tests", at(name)),),
        )
    for name in sorted(before.keys() & after.keys()):
        for change in fields.node_changes(new, before[name], after[name], ("tests", at(name)), {}):
            yield dataclasses.replace(
                change,
                reason="what the test checks changed: read whether it still guards the step",
                bump=None,
            )


def _name(test: ir.StepTest) -> str:
    return test.name
