"""Semantic checks across a parsed spec: references, types, the graph, names, consistency.

Every check reports at the position of the offending text and collects all problems of the
stage; `lower.py` may then assume a spec that passed is consistent. One module per section of
the spec; `base.py` holds the reporting and the reference resolution they share.
"""

from __future__ import annotations

from collections.abc import Callable

from mlspec.compiler.checks import (
    cycles,
    environments,
    fanout,
    gates,
    monitor,
    naming,
    notebooks,
    registry,
    rollout,
    steps,
    tests,
    triggers,
    values,
)
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.source import Source
from mlspec.compiler.spec import Spec
from mlspec.diagnostics import Diagnostic

# In this order: the corpus (specs/invalid) pins which diagnostics come out, and in what order.
SECTIONS: tuple[Callable[[Checker], None], ...] = (
    naming.check_names,
    steps.check_params,
    steps.check_defaults,
    steps.check_steps,
    notebooks.check_notebooks,
    fanout.check_fanout,
    gates.check_gates,
    cycles.check_cycles,
    registry.check_registry,
    rollout.check_rollout,
    values.check_schedule,
    triggers.check_triggers,
    monitor.check_monitor,
    gates.check_unguarded_gates,
    tests.check_tests,
    environments.check_environments,
    values.check_values,
)


def check(spec: Spec, source: Source) -> list[Diagnostic]:
    checker = Checker(spec, source)
    for section in SECTIONS:
        section(checker)
    return checker.found
