"""`mlspec diff`: what a spec change does to the pipeline, its gates, promotion and rollout.

`compare` (changes/) finds the changes, `version` checks the bump they need, `render` prints
them for terminals, pull requests and tools.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlspec.compiler import Analysis, analyze_text
from mlspec.compiler.ir import Pipeline
from mlspec.diff import version
from mlspec.diff.changes import compare
from mlspec.diff.changes.environments import compare_environments
from mlspec.diff.model import RISKS, Change, Risk
from mlspec.diff.sources import Side


@dataclass(frozen=True)
class SpecDiff:
    old_label: str
    new_label: str
    old: Pipeline | None  # None: the spec was added
    new: Pipeline | None  # None: the spec was removed
    changes: tuple[Change, ...]

    @property
    def risky(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.risk == "risky")

    def ordered(self) -> list[Change]:
        """Risky changes first, then those to review, then safe ones; spec order within."""
        return sorted(self.changes, key=lambda c: RISKS.index(c.risk))

    def count(self, risk: Risk) -> int:
        return sum(1 for c in self.changes if c.risk == risk)


def _analyzed(side: Side) -> Analysis:
    assert side.text is not None
    return analyze_text(side.text, side.label, side.packages, side.folder)


def diff(old: Side, new: Side) -> SpecDiff:
    """Raises SpecError (with diagnostics under the side's label) if a side is not valid."""
    x = None if old.text is None else _analyzed(old)
    y = None if new.text is None else _analyzed(new)
    if x is None or y is None:
        what = "added" if x is None else "removed"
        reason = "a new pipeline" if x is None else "the pipeline is no longer deployed from here"
        change = Change("spec", what, "review", reason, None)
        a = None if x is None else x.pipeline
        b = None if y is None else y.pipeline
        return SpecDiff(old.label, new.label, a, b, (change,))
    a, b = x.pipeline, y.pipeline
    # The pipeline as written, then where it runs: the environments are not in its IR.
    changes = compare(a, b) + list(compare_environments(x, y))
    bumped = version.check(a.version, b.version, changes)
    if bumped is not None:
        changes.append(bumped)
    return SpecDiff(old.label, new.label, a, b, tuple(changes))
