"""The documentation lists every diagnostic code and its examples still validate."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.codes import CODES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / "specs" / "README.md").read_text(encoding="utf-8")


def test_reference_lists_every_code_with_its_title() -> None:
    rows = dict(re.findall(r"^\| (MS\d{3}) \| ([^|]+) \|", REFERENCE, re.MULTILINE))
    assert sorted(rows) == sorted(CODES), "specs/README.md's code table and codes.py differ"
    for code, title in CODES.items():
        assert rows[code].strip().startswith(title), code


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.rstrip().splitlines()[-1]
    assert command.startswith("uv run pytest")
    assert f"\n{command}\n" in readme


# Tour commands that need a server, a registry or a git history of their own, or that write
# into the checkout (init has tests of its own).
_NOT_OFFLINE = {"run", "deploy", "promote", "resolve-model", "diff", "init"}


def _tour_commands() -> list[list[str]]:
    """The README tour's `uv run mlspec ...` commands whose every argument is concrete."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## A short tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    block = re.sub(r"\\\n\s*", "", block)  # continuation lines
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("uv run mlspec ") or ">" in line:
            continue
        args = shlex.split(line)[3:]
        if args[0] in _NOT_OFFLINE or any(re.fullmatch(r"[A-Z]+", a) for a in args):
            continue
        expanded: list[str] = []
        for arg in args:
            matches = (
                sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(arg)) if "*" in arg else [arg]
            )
            assert matches, f"README tour: {arg!r} matches no file"
            expanded += matches
        commands.append(expanded)
    return commands


@pytest.mark.parametrize("args", _tour_commands(), ids=" ".join)
def test_readme_tour_commands_work(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    if "-o" in args:  # write into a scratch folder, not the checkout
        args = [*args[: args.index("-o") + 1], str(tmp_path / "out"), *args[args.index("-o") + 2 :]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_the_tour_is_mostly_runnable() -> None:
    assert len(_tour_commands()) >= 6


def test_readme_lists_the_registered_targets() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ mlspec targets\n", 1)[1].split("```", 1)[0]
    assert block == CliRunner().invoke(main, ["targets"]).output
