"""Strategies a controller cannot run: one corpus case per pair, found by glob in
specs/unsupported/ (see the README there). The rendered diagnostics are snapshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.backends.rollout import base
from mlspec.backends.rollout.backend import RolloutBackend
from mlspec.cli import main
from mlspec.compiler import analyze_file
from mlspec.compiler.passes import pin_model
from mlspec.diagnostics import render

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "specs" / "unsupported").glob("*.yaml"))
EXPECT_RE = re.compile(r'^# expect: (MS\d{3}) (\d+):(\d+) "(.+)"$')
KINDS = ("canary", "blue_green", "shadow", "ab_test/weight", "ab_test/header", "ab_test/cookie",
         "bandit", "contextual_bandit")  # fmt: skip


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _expectation(path: Path) -> tuple[str, int, int, str]:
    match = EXPECT_RE.match(path.read_text().splitlines()[0])
    assert match, f"{_rel(path)}: first line must be '# expect: MS301 LINE:COL \"text\"'"
    code, line, col, text = match.groups()
    return code, int(line), int(col), text


def _slug(controller: str, kind: str) -> str:
    return f"MS301-{controller}-{kind.replace('/', '-').replace('_', '-')}.yaml"


def test_every_unsupported_pair_has_a_case() -> None:
    expected = {
        _slug(controller, kind)
        for controller in base.CONTROLLERS
        for kind in KINDS
        if kind not in base.SUPPORT[controller]
    }
    assert {p.name for p in CASES} == expected


@pytest.mark.parametrize("path", CASES, ids=_rel)
def test_reported_at_the_strategy(path: Path, snapshot: object) -> None:
    code, line, col, text = _expectation(path)
    name = _rel(path)
    # Pinned as CI pins it, so that a KServe case shows its strategy problem, not the pin.
    pipeline = pin_model(analyze_file(path, name).pipeline, "7", "s3://models/fraud/7")
    found = RolloutBackend().check(pipeline)
    assert render(found, "text", {name: path.read_text()}) == snapshot
    at = [d for d in found if (d.code, d.span.line, d.span.col) == (code, line, col)]
    assert at, found
    assert at[0].severity == "error"
    assert text in f"{at[0].message}\n{at[0].hint}"


@pytest.mark.parametrize("path", CASES[:3], ids=_rel)
def test_cli_writes_nothing_for_the_rollout_target(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(path), "-t", "rollout", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "error[MS301]" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("path", CASES[:3], ids=_rel)
def test_pipeline_target_still_writes_the_pipeline(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(path), "-t", "prefect", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning[MS302]" in result.stderr
    assert "the rollout manifests are not written" in result.stderr
    assert (out / "prefect.yaml").is_file()
    assert not (out / "rollout").exists()
