"""`mlspec simulate`: the bandit of a spec, run offline from the command line."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
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


def test_json_carries_the_table_the_stop_and_the_comparison() -> None:
    args = (PLAIN, *RATES, "--requests", 300, "--intervals", 60, "--seed", 3, "--compare")
    table = simulate(*args).output
    result = simulate(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    run = data["run"]
    assert (run["label"], run["arms"], run["routes"]) == (
        "thompson",
        ["challenger", "incumbent", "rules_only"],
        ["default"],
    )
    rows = [
        "  ".join(
            [f"{i['number']:>8}", f"{timedelta(seconds=i['elapsed_seconds'])!s:>7}"]
            + [f"{i['weights']['default'][arm]:>{max(len(arm), 3)}}" for arm in run["arms"]]
            + [f"{i['cumulative_regret']:>11.1f}"]
        )
        for i in run["intervals"]
    ]
    assert "\n".join(rows) in table  # every row of the table, from the JSON
    stop = run["stops"]["default"]
    assert stop["interval"] == run["stopped_at"] == len(run["intervals"])
    assert f"winner {stop['winner']} at interval {stop['interval']} " in table
    assert f"{stop['reason']}\ncumulative regret {run['cumulative_regret']:.1f}" in table
    comparison = data["comparison"]
    assert comparison["horizon"] == 60
    for entry in comparison["runs"]:
        line = next(line for line in table.splitlines() if line.startswith(entry["label"] + " "))
        assert f"{entry['regret']:.1f}" in line
        if entry["stopped_at"] is not None:
            assert f"stopped at interval {entry['stopped_at']}; leaders " in line
    assert [e["label"] for e in comparison["runs"]][-1] == "fixed split"


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
