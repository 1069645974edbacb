"""Issue #15: `mlspec bandit-controller --config FILE` ended in a traceback for any file that
was not a well-formed configuration. Each is a usage error now (exit 2) that names the key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.bandit import controller
from mlspec.bandit.config import Config, ConfigError, Guardrail
from mlspec.cli import main

GOOD = Config(
    namespace="ml-serving",
    virtual_service="fraud-scorer",
    prometheus="http://prometheus.monitoring:9090",
    algorithm="thompson",
    arms={"a": "fraud-scorer-a.ml-serving.svc.cluster.local", "b": "fraud-scorer-b"},
    successes='sum(increase(rewards_total{arm="$arm"}[5m]))',
    trials='sum(increase(requests_total{arm="$arm"}[5m]))',
    interval_seconds=300,
    exploration_floor=5,
    max_step=10,
    guardrails=(Guardrail("error_rate", 'errors{arm="$arm"}', None, 0.05),),
    stop_p_best=0.95,
)


def changed(**changes: object) -> str:
    """GOOD's JSON with some keys set to raw JSON values (None: the key removed)."""
    data = json.loads(GOOD.to_json())
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


CASES = {
    "not JSON": ("{arms: a}", "not JSON"),
    "empty": ("", "not JSON"),
    "a list": ("[]", "expected a JSON object of settings, found a list"),
    "null": ("null", "found null"),
    "an empty object": ("{}", "'namespace' is missing"),
    "a key missing": (changed(arms=None), "'arms' is missing"),
    "an unknown key": (changed(arm={"a": "x"}), "unknown key 'arm'"),
    "arms a string": (changed(arms="a"), "'arms' must be an object of two or more arm -> host"),
    "one arm": (changed(arms={"a": "x"}), "two or more"),
    "a host a number": (changed(arms={"a": "x", "b": 1}), "'arms.b' must be a non-empty string"),
    "a number as text": (changed(max_step="10"), "'max_step' must be a whole number, not a string"),
    "a boolean as number": (changed(interval_seconds=True), "'interval_seconds' must be a whole"),
    "zero interval": (changed(interval_seconds=0), "'interval_seconds' must be at least 1"),
    "floor out of range": (changed(exploration_floor=60), "'exploration_floor' must be from 0"),
    "floors over 100": (
        changed(exploration_floor=50, arms={"a": "x", "b": "y", "c": "z"}),
        "adds up to more than 100",
    ),
    "NaN": (GOOD.to_json().replace('"stop_p_best": 0.95', '"stop_p_best": NaN'), "finite"),
    "an unknown algorithm": (changed(algorithm="greedy"), "'algorithm' must be one of"),
    "epsilon without epsilon_greedy": (changed(epsilon=0.1), "'epsilon' is required by"),
    "guardrails an object": (changed(guardrails={}), "'guardrails' must be a list"),
    "a guardrail without query": (
        changed(guardrails=[{"name": "e", "min": None, "max": 1}]),
        "guardrails[0] must be an object with name, query, min and max",
    ),
    "a guardrail without bounds": (
        changed(guardrails=[{"name": "e", "query": "q", "min": None, "max": None}]),
        "guardrails[0] needs 'min', 'max' or both",
    ),
    "segments without a header": (changed(segments=["eu"]), "go together"),
    "pause out of range": (changed(no_data_pause_intervals=0), "'no_data_pause_intervals'"),
}


@pytest.mark.parametrize(("text", "message"), CASES.values(), ids=CASES.keys())
def test_a_bad_config_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["bandit-controller", "--config", str(path), "--once"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--config'" in result.stderr
    assert f"{path}: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_an_unreadable_or_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    binary = tmp_path / "config.json"
    binary.write_bytes(b"\xff\xfe{}")  # not UTF-8
    result = CliRunner().invoke(main, ["bandit-controller", "--config", str(binary)])
    assert result.exit_code == 2, result.output
    assert f"cannot read {binary}" in result.stderr
    missing = CliRunner().invoke(main, ["bandit-controller", "--config", str(tmp_path / "no")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    with pytest.raises(ConfigError, match=f"cannot read {tmp_path}"):
        controller.run(tmp_path)  # a folder: what a mounted ConfigMap without the key gives


def test_every_field_round_trips() -> None:
    contextual = dataclasses.replace(
        GOOD, context_header="x-region", segments=("eu", "us"), no_data_pause_intervals=5
    )
    for config in (GOOD, contextual):
        assert Config.from_json(config.to_json()) == config
