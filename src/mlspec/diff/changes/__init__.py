"""What a spec change does, in domain terms: one `Change` per thing a reviewer should know.

Both sides are compared as resolved IR, keyed by name, so reordering keys or steps, comments,
quoting and spelling a default out change nothing. Each change carries a risk (`risky`: it makes
production riskier, e.g. a loosened gate; `review`: it changes behaviour; `safe`: it adds
protection or changes nothing that runs) with the reason, and the smallest version bump it
requires under MAJOR.MINOR.PIPELINE (data or target / model / pipeline).

One module per section of the spec, each with the rules of that section.
"""

from __future__ import annotations

from mlspec.compiler import ir
from mlspec.diff import fields
from mlspec.diff.changes import monitor
from mlspec.diff.changes.gates import check_key, compare_gates, requirement_key
from mlspec.diff.changes.pipeline import compare_metadata, compare_params, compare_schedule
from mlspec.diff.changes.registry import compare_registry
from mlspec.diff.changes.rollout import compare_rollouts
from mlspec.diff.changes.steps import compare_steps
from mlspec.diff.changes.tests import compare_tests
from mlspec.diff.changes.triggers import compare_triggers, trigger_key
from mlspec.diff.model import Change


def compare(old: ir.Pipeline, new: ir.Pipeline) -> list[Change]:
    """Every semantic difference between two pipelines: what the rules say, in the order a spec
    reads, then every other IR field that differs (fields.py)."""
    reported = rules(old, new)
    return reported + fields.remaining(old, new, reported, KEYS)


def rules(old: ir.Pipeline, new: ir.Pipeline) -> list[Change]:
    """The changes the hand-written rules know the meaning (and risk) of."""
    return [
        *compare_metadata(old, new),
        *compare_params(old, new),
        *compare_steps(old, new),
        *compare_gates(old, new),
        *compare_registry(old, new),
        *compare_rollouts(old, new),
        *compare_schedule(old, new),
        *compare_triggers(old, new),
        *monitor.compare_monitor(old, new),
        *compare_tests(old, new),
    ]


# How the rules key a gate's checks and requirements; the generic comparison keys them alike.
KEYS: fields.Keys = {
    ir.DataCheck: check_key,
    ir.Requirement: requirement_key,
    ir.Trigger: trigger_key,
    ir.FeedbackRequirement: monitor.requirement_key,
}
