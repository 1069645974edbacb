"""Numbers no Python int or float holds are diagnostics, not tracebacks (issue #15, item 3).

An integer literal of more than 4,300 digits (Python's limit for converting text to int), a
hexadecimal or octal one as large, and a float literal beyond the largest double (`1e400`,
which Python reads as infinity) are MS011 at the literal, wherever they stand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[2]
BREAST_CANCER = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"

LONG = "9" * 4_301
PLACES = {
    # where: (text replaced in the example, its replacement with {n} for the number)
    "value": ("  retries: 1\n", "  retries: {n}\n"),
    "flow value": ("row_count: {min: 250}", "row_count: {{min: {n}}}"),
    "list item": ("owners: [", "owners: [{n}, "),
    "label": ("labels: {team: diagnostics,", "labels: {{size: {n}, team: diagnostics,"),
    "key": ("  retries: 1\n", "  retries: 1\n  ? {n}\n  : 1\n"),  # `?`: a key of any length
}
OUT_OF_RANGE = {
    "4,301 digits": LONG,
    "negative": "-" + LONG,
    "leading zeros": "0" * 4_300 + "7",
    "hexadecimal": "0x" + "f" * 3_600,
    "octal": "0o" + "7" * 4_800,
    "1e400": "1e400",
    "-1e400": "-1e400",
    "1e309": "1e309",
    "long float": "1" * 400 + ".5",
}


def variant(tmp_path: Path, place: str, number: str) -> Path:
    old, new = PLACES[place]
    text = BREAST_CANCER.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace(old, new.format(n=number)), encoding="utf-8")
    return spec


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


@pytest.mark.parametrize("number", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
@pytest.mark.parametrize("place", list(PLACES))
def test_a_number_out_of_range_is_a_diagnostic(tmp_path: Path, place: str, number: str) -> None:
    spec = variant(tmp_path, place, number)
    code, stderr = invoke("validate", spec)
    assert code == 1, stderr
    line = 1 + spec.read_text(encoding="utf-8").split(number)[0].count("\n")
    # As a key it is no string (MS003); everywhere else it is out of range.
    expected = "MS003" if place == "key" else "MS011"
    assert f"spec.yaml:{line}:" in stderr and f"error[{expected}]" in stderr, stderr
    code, stderr = invoke("compile", spec, "-t", "ir", "-o", tmp_path / "out")
    assert code == 1, stderr
    assert not (tmp_path / "out").exists()


def test_the_message_shows_the_number_short(tmp_path: Path) -> None:
    _, stderr = invoke("validate", variant(tmp_path, "value", LONG))
    assert "error[MS011]: the integer 99999999999999999999\u2026 has more than 4,300 digits" in (
        stderr
    )
    _, stderr = invoke("validate", variant(tmp_path, "value", "1e400"))
    assert "error[MS011]: the number 1e400 is out of range" in stderr


@pytest.mark.parametrize(
    "number", ["9" * 4_300, "0x" + "f" * 3_500, "1e308", "-0.0", "5e-324", "1e-400"]
)
def test_numbers_in_range_load(tmp_path: Path, number: str) -> None:
    # They may still be wrong for the field (retries must be small), but not MS011.
    code, stderr = invoke("validate", variant(tmp_path, "value", number))
    assert "MS011" not in stderr
    assert code in (0, 1), stderr


def test_infinity_written_as_such_is_the_field_check(tmp_path: Path) -> None:
    code, stderr = invoke("validate", variant(tmp_path, "flow value", ".inf"))
    assert code == 1
    assert "error[MS104]: threshold inf is not a finite number" in stderr
