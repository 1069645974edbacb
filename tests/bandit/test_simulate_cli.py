"""`mlspec simulate`: the bandit of a spec, run offline from the command line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from click.testing import CliRunner

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[2]
PLAIN = ROOT / "tests" / "rollout" / "matrix" / "istio--bandit.yaml"
CONTEXTUAL = ROOT / "tests" / "rollout" / "matrix" / "istio--contextual_bandit.yaml"
RATES = ["--rate", "incumbent=0.05", "--rate", "challenger=0.07", "--rate", "rules_only=0.03"]


def simulate(*args: object):
    return CliRunner().invoke(main, ["simulate", *map(str, args)])


def test_prints_weights_regret_and_the_stop_with_a_comparison() -> None:
    result = simulate(PLAIN, *RATES, "--requests", 300, "--intervals", 60, "--seed", 3, "--compare")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "interval  elapsed  challenger  incumbent  rules_only  cum. regret" in out
    assert "winner challenger" in out
    assert "fixed split" in out and "epsilon_greedy" in out and "ucb1" in out
    again = simulate(PLAIN, *RATES, "--requests", 300, "--intervals", 60, "--seed", 3, "--compare")
    assert again.output == out  # a seed fixes everything


def test_contextual_rates_per_segment() -> None:
    rates = []
    for segment, best in (("eu", "challenger"), ("us", "incumbent"), ("apac", "challenger")):
        for arm in ("incumbent", "challenger"):
            rates += ["--rate", f"{segment}:{arm}={0.08 if arm == best else 0.04}"]
    result = simulate(CONTEXTUAL, *rates, "--requests", 500, "--intervals", 40, "--seed", 1)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line.split() for line in lines if line.startswith("interval"))
    last = next(line.split() for line in lines if line.split() and line.split()[0] == "40")
    weights = dict(zip(header, last, strict=False))  # "cum. regret" is two words
    assert int(weights["eu:challenger"]) > int(weights["eu:incumbent"])
    assert int(weights["us:incumbent"]) > int(weights["us:challenger"])  # each segment its own


def test_usage_errors_name_the_problem() -> None:
    missing = simulate(PLAIN, "--rate", "incumbent=0.05")
    assert missing.exit_code == 2
    assert "give a reward rate for each arm" in missing.stderr
    garbled = simulate(PLAIN, "--rate", "incumbent")
    assert garbled.exit_code == 2 and "ARM=P" in garbled.stderr
    not_a_bandit = simulate(ROOT / "examples" / "breast-cancer" / "pipeline.yaml", *RATES)
    assert not_a_bandit.exit_code == 2
    assert "has no bandit or contextual_bandit rollout" in not_a_bandit.stderr


def test_plot_needs_the_plot_extra(tmp_path: Path) -> None:
    out = tmp_path / "weights.png"
    result = simulate(PLAIN, *RATES, "--intervals", 5, "--plot", out)
    if importlib.util.find_spec("matplotlib") is None:
        assert result.exit_code == 2
        assert "mlspec-gitops[plot]" in result.stderr
        assert not out.exists()
    else:
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(b"\x89PNG")
