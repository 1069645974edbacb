"""Issue #15: `mlspec simulate` with hostile input ends in a clear usage error (exit 2), never a
traceback and never a run on something other than what was asked."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from support.stubs import TESTS

from mlspec.cli import main

PLAIN = TESTS / "rollout" / "matrix" / "istio--bandit.yaml"
CONTEXTUAL = TESTS / "rollout" / "matrix" / "istio--contextual_bandit.yaml"
OTHERS = ["challenger=0.06", "rules_only=0.03"]

CASES = {
    "above 1": (PLAIN, ["incumbent=1.5", *OTHERS], "must be in [0, 1], not 1.5"),
    "negative": (PLAIN, ["incumbent=-0.1", *OTHERS], "must be in [0, 1], not -0.1"),
    "NaN": (PLAIN, ["incumbent=nan", *OTHERS], "must be in [0, 1], not nan"),
    "infinite": (PLAIN, ["incumbent=inf", *OTHERS], "must be in [0, 1], not inf"),
    "not a number": (PLAIN, ["incumbent=0.1e", *OTHERS], "write ARM=P or SEGMENT:ARM=P"),
    "an unknown arm": (PLAIN, ["bogus=0.5", *OTHERS], "give a reward rate for each arm"),
    "an arm missing": (PLAIN, OTHERS, "give a reward rate for each arm"),
    "an arm twice": (PLAIN, ["incumbent=0.1", "incumbent=0.9", *OTHERS], "has a rate already"),
    "segments for a plain bandit": (
        PLAIN,
        ["eu:incumbent=0.1", "eu:challenger=0.06", "eu:rules_only=0.03"],
        "this bandit has no segments",
    ),
    "an unknown segment": (
        CONTEXTUAL,
        [f"{s}:{a}=0.1" for s in ("eu", "us", "apac", "mars") for a in ("incumbent", "challenger")],
        "for the segments ['apac', 'eu', 'us']",
    ),
    "a contextual rate out of range": (
        CONTEXTUAL,
        [
            f"{s}:{a}={'2' if s == 'us' else '0.1'}"
            for s in ("eu", "us", "apac")
            for a in ("incumbent", "challenger")
        ],
        "us: the reward rate of 'incumbent' must be in [0, 1], not 2.0",
    ),
}


@pytest.mark.parametrize(("spec", "rates", "message"), CASES.values(), ids=CASES.keys())
def test_hostile_rates_are_usage_errors(spec: object, rates: list[str], message: str) -> None:
    args = ["simulate", str(spec), "--intervals", "2"]
    for rate in rates:
        args += ["--rate", rate]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--requests", "-1"], "requests per interval must be a whole number >= 0"),
        (["--requests", "1e3"], "'1e3' is not a valid integer"),
        (["--intervals", "0"], "simulate at least one interval"),
    ],
)
def test_hostile_sizes_are_usage_errors(option: list[str], message: str) -> None:
    rates = ["--rate", "incumbent=0.1", "--rate", OTHERS[0], "--rate", OTHERS[1]]
    result = CliRunner().invoke(main, ["simulate", str(PLAIN), *rates, *option])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
