"""`mlspec diff` over a corpus of spec pairs, each pinning one kind of change.

A case (tests/diff/cases/*.yaml) names a base spec, text edits that make the new side, and the
exact (risk, subject) of every change expected. The text and markdown outputs are snapshots;
update them with `pytest --snapshot-update` and read the diff.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.diff import SpecDiff, diff
from mlspec.diff import render as show
from mlspec.diff.sources import Side

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _sides(case: Path) -> tuple[Side, Side, list[tuple[str, str]]]:
    data = yaml.safe_load(case.read_text())
    old = (ROOT / data["base"]).read_text()
    new = old
    for before, after in data["edits"]:
        assert new.count(before) == 1, f"{case.name}: {before!r} must occur once in the base"
        new = new.replace(before, after)
    expected = sorted((risk, subject) for risk, subject in data["expect"])
    return Side(data["base"], old), Side(data["base"], new), expected


@pytest.fixture(params=CASES, ids=lambda p: p.stem)
def case(request: pytest.FixtureRequest) -> tuple[SpecDiff, list[tuple[str, str]]]:
    old, new, expected = _sides(request.param)
    return diff(old, new), expected


def test_corpus_size() -> None:
    assert len(CASES) >= 25


def test_exact_risks(case: tuple[SpecDiff, list[tuple[str, str]]]) -> None:
    result, expected = case
    assert sorted((c.risk, c.subject) for c in result.changes) == expected, show.text([result])


def test_text_snapshot(case: tuple[SpecDiff, list[tuple[str, str]]], snapshot: object) -> None:
    assert show.text([case[0]]) == snapshot


def test_markdown_snapshot(case: tuple[SpecDiff, list[tuple[str, str]]], snapshot: object) -> None:
    assert show.markdown([case[0]]) == snapshot


def test_the_issue_s_three_risky_kinds_are_risky() -> None:
    """A loosened gate, a removed canary analysis and a missing version bump."""
    for name in ("03-lowered-threshold-literal", "14-removed-canary-analysis",
                 "13-missing-version-bump"):  # fmt: skip
        old, new, _ = _sides(Path(__file__).parent / "cases" / f"{name}.yaml")
        assert diff(old, new).risky, name


def test_risky_changes_come_first_in_every_output() -> None:
    old, new, _ = _sides(Path(__file__).parent / "cases" / "13-missing-version-bump.yaml")
    result = diff(old, new)
    lines = show.text([result]).splitlines()
    assert lines[1].lstrip().startswith("RISKY")
    rows = [line for line in show.markdown([result]).splitlines() if line.startswith("| 🔴")]
    assert rows and show.markdown([result]).index(rows[0]) < show.markdown([result]).index("🟢")
    data = json.loads(show.as_json([result]))
    assert data["files"][0]["changes"][0]["risk"] == "risky"


# -- the command ------------------------------------------------------------------------------


def _files(tmp_path: Path, case: str) -> tuple[Path, Path]:
    old, new, _ = _sides(Path(__file__).parent / "cases" / f"{case}.yaml")
    a, b = tmp_path / "old.yaml", tmp_path / "new.yaml"
    a.write_text(old.text or "")
    b.write_text(new.text or "")
    return a, b


@pytest.mark.parametrize(
    ("case", "fail_on", "code"),
    [
        ("03-lowered-threshold-literal", "risky", 1),
        ("03-lowered-threshold-literal", "never", 0),
        ("04-tightened-threshold", "risky", 0),
        ("04-tightened-threshold", "any", 1),
        ("01-comment-and-order-only", "any", 0),
    ],
)
def test_fail_on_sets_the_exit_code(tmp_path: Path, case: str, fail_on: str, code: int) -> None:
    a, b = _files(tmp_path, case)
    result = CliRunner().invoke(main, ["diff", str(a), str(b), "--fail-on", fail_on])
    assert result.exit_code == code, result.output


def test_no_semantic_change_is_said(tmp_path: Path) -> None:
    a, b = _files(tmp_path, "01-comment-and-order-only")
    result = CliRunner().invoke(main, ["diff", str(a), str(b)])
    assert result.output.endswith("no semantic change\n")


def test_json_format(tmp_path: Path) -> None:
    a, b = _files(tmp_path, "12-missing-major-bump")
    data = json.loads(CliRunner().invoke(main, ["diff", str(a), str(b), "--format", "json"]).output)
    [entry] = data["files"]
    assert [c["risk"] for c in entry["changes"]] == ["risky", "review"]
    assert "needs at least 2.0.0" in entry["changes"][0]["summary"]


def test_an_invalid_side_gets_its_diagnostics(tmp_path: Path) -> None:
    a, b = _files(tmp_path, "03-lowered-threshold-literal")
    b.write_text(b.read_text().replace("evaluate.accuracy, min", "evaluate.acuracy, min"))
    result = CliRunner().invoke(main, ["diff", str(a), str(b)])
    assert result.exit_code == 1
    assert f"{b}:" in result.stderr and "MS2" in result.stderr
    assert "Traceback" not in result.output


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_revisions_from_git_and_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    old, new, _ = _sides(Path(__file__).parent / "cases" / "14-removed-canary-analysis.yaml")
    spec = repo / "specs" / "fraud.yaml"
    spec.write_text(old.text or "")
    (repo / "notes.yaml").write_text("not: a spec\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base")
    spec.write_text(new.text or "")
    (repo / "notes.yaml").write_text("still: not a spec\n")
    monkeypatch.chdir(repo)
    by_rev = CliRunner().invoke(main, ["diff", "HEAD:specs/fraud.yaml", "specs/fraud.yaml"])
    assert by_rev.exit_code == 0, by_rev.output
    assert "canary step analysis removed" in by_rev.output
    by_base = CliRunner().invoke(main, ["diff", "--base", "HEAD", "--fail-on", "risky"])
    assert by_base.exit_code == 1, by_base.output
    assert by_base.output.startswith("specs/fraud.yaml: 1 change (1 risky)")
    assert "notes.yaml" not in by_base.output
    missing = CliRunner().invoke(main, ["diff", "HEAD:specs/nope.yaml", "specs/fraud.yaml"])
    assert missing.exit_code == 2, missing.output
    assert "path 'specs/nope.yaml' does not exist in 'HEAD'" in missing.stderr


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_no_changed_spec_prints_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "fraud.yaml").write_text(
        (ROOT / "examples/breast-cancer/pipeline.yaml").read_text()
    )
    (repo / "README.md").write_text("one\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base")
    (repo / "README.md").write_text("two\n")  # a change, but to no spec
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(
        main, ["diff", "--base", "HEAD", "--format", fmt, "--fail-on", "any"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == "no spec changed since HEAD\n"
    assert result.stdout == ('{\n  "files": []\n}\n' if fmt == "json" else "")
    under = CliRunner().invoke(main, ["diff", "--base", "HEAD", "specs/"])
    assert (under.exit_code, under.stdout) == (0, "")
    assert under.stderr == "no spec changed since HEAD under specs/\n"


def test_removing_the_last_monitor_trigger_is_risky_and_one_of_two_is_review() -> None:
    """Issue #20: the loop from a monitored model's alarm back to its retraining must not open
    silently. The sides stand where the flagship does, beside its monitor."""
    label = str(ROOT / "examples" / "breast-cancer" / "pipeline.yaml")
    base = Path(label).read_text(encoding="utf-8")
    loop = base.replace(
        "\nschedule:", "\ntriggers:\n  - monitor: {name: breast-cancer-monitor}\n\nschedule:"
    )
    assert loop != base
    [opened] = [
        c for c in diff(Side(label, loop), Side(label, base)).changes if c.subject == "trigger"
    ]
    assert opened.risk == "risky"
    assert "no monitor's alarm retrains the model any more" in opened.reason
    data = "\n  - data: {path: /data/incoming/breast-cancer}"
    both = loop.replace("breast-cancer-monitor}", "breast-cancer-monitor}" + data)
    [kept] = [
        c for c in diff(Side(label, both), Side(label, loop)).changes if c.subject == "trigger"
    ]
    assert kept.risk == "review"
