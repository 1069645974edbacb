"""Issue #15, the policy's part: a held arm (its data missing) never rises and never wins.

Property-tested over every case of tests/support/bandit.py's `weight_cases` (any target,
any current split, floor, step limit and zeroed arms), with any set of live arms held.
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from support.bandit import weight_cases

from mlspec.bandit.policy import Stats, weights, winner


@given(weight_cases(), st.data())
def test_a_held_arm_never_rises(case: tuple, data: st.DataObject) -> None:
    target, current, floor, max_step, zeroed = case
    live = sorted(set(current) - zeroed)
    held = frozenset(data.draw(st.lists(st.sampled_from(live), unique=True)))
    out = weights(target, current, floor=floor, max_step=max_step, zeroed=zeroed, held=held)
    assert sum(out.values()) == 100
    assert all(out[a] == 0 for a in zeroed)
    # Only when every live arm is held must a zeroed arm's traffic go to held arms.
    forced = set(live) <= held and sum(current[a] for a in live) < 100
    if not forced:
        for arm in held:
            assert out[arm] <= max(current[arm], floor), (arm, out, current)


def test_a_held_arm_does_not_win_a_stop() -> None:
    stats = {"a": Stats(5, 1000), "b": Stats(300, 1000)}
    ask = {"p_best_threshold": 0.9, "elapsed_seconds": 10.0, "max_duration_seconds": 5.0}
    assert winner(stats, random.Random(0), **ask) is not None
    assert winner(stats, random.Random(0), held=frozenset({"b"}), **ask) is None
    lone = {"zeroed": frozenset({"a"}), "held": frozenset({"b"})}
    assert winner(stats, random.Random(0), **ask, **lone) is None
