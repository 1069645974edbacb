"""The documentation lists every diagnostic code and its examples still validate."""

from __future__ import annotations

import re
from pathlib import Path

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
    command = "uv run pytest"
    assert f"\n{command}\n" in readme
    assert ci.rstrip().splitlines()[-1] == command
