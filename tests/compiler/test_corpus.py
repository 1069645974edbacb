"""The spec corpus: every invalid spec reports its code at its place; every valid spec compiles.

Cases are found by glob. An invalid case's first line says what it must report (see
specs/invalid/README.md). The rendered diagnostics of every invalid case and the IR of every
valid spec are snapshots under __snapshots__/: update them with `pytest --snapshot-update`, then
read the diff.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.codes import BACKEND_CODES, CODES, ENV_CODES, FILE_CODES, TEST_CODES
from mlspec.compiler import analyze_bytes
from mlspec.compiler.ir import to_data
from mlspec.diagnostics import Diagnostic, SpecError, render

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "specs" / "invalid").glob("*.yaml"))
VALID = sorted((ROOT / "specs" / "valid").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))

EXPECT_RE = re.compile(r'^# expect: (MS\d{3}) (\d+):(\d+)( warning)?(?: "(.+)")?$')
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CASE_NAME_RE = re.compile(r"^(MS\d{3})-[a-z0-9]+(?:-[a-z0-9]+)*\.yaml$")

# Cases whose diagnostic is wrong today. Each stays in the corpus, xfail(strict=True), so that the
# fix in src/ turns it into an XPASS failure: then delete its entry here.
KNOWN_PROBLEMS: dict[str, str] = {}


@dataclass(frozen=True)
class Expectation:
    code: str
    line: int
    col: int
    severity: str
    text: str | None


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def expectation(path: Path) -> Expectation:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii", errors="replace")
    match = EXPECT_RE.match(first)
    if match is None:
        pytest.fail(
            f"{rel(path)}: the first line must be '# expect: MSnnn LINE:COL', not {first!r}"
        )
    code, line, col, warning, text = match.groups()
    return Expectation(code, int(line), int(col), "warning" if warning else "error", text)


def cases(paths: list[Path], *, known_problems: bool = False) -> list[object]:
    params = []
    for path in paths:
        reason = KNOWN_PROBLEMS.get(path.name) if known_problems else None
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(path, id=rel(path), marks=marks))
    return params


def wording_problems(diagnostic: Diagnostic) -> list[str]:
    """Slips that no message or hint should have, whatever the mistake."""
    problems = []
    for text in (diagnostic.message, diagnostic.hint or ""):
        if "{{" in text:
            problems.append(f"doubled braces in {text!r}")
        article = re.search(r"\ba [aeio]\w*", text)
        if article:
            problems.append(f"{article.group()!r} in {text!r}")
    return problems


# -- invalid specs ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", cases(INVALID, known_problems=True))
def test_invalid_spec(path: Path, snapshot: object) -> None:
    expected = expectation(path)
    name = rel(path)
    raw = path.read_bytes()
    if expected.severity == "error":
        with pytest.raises(SpecError) as caught:
            analyze_bytes(raw, name)
        diagnostics = caught.value.diagnostics
    else:
        diagnostics = list(analyze_bytes(raw, name).warnings)
    rendered = render(diagnostics, "text", {name: raw.decode("utf-8", errors="replace")})
    # First, so that the snapshot records what users see even for KNOWN_PROBLEMS (with control
    # characters escaped, so that the snapshot file stays text).
    assert CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", rendered) == snapshot

    at = [
        d
        for d in diagnostics
        if (d.code, d.span.line, d.span.col, d.severity)
        == (expected.code, expected.line, expected.col, expected.severity)
    ]
    assert at, (
        f"expected {expected.severity}[{expected.code}] at {expected.line}:{expected.col}, "
        f"got:\n{rendered}"
    )
    if expected.text is not None:
        said = f"{at[0].message}\n{at[0].hint or ''}"
        assert expected.text in said, f"{expected.text!r} not in the diagnostic:\n{rendered}"
    assert [p for d in diagnostics for p in wording_problems(d)] == []
    assert not CONTROL_RE.search(rendered), "the excerpt prints a control character as is"


@pytest.mark.parametrize("path", cases(INVALID))
def test_invalid_spec_cli(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    expected = expectation(path)
    result = CliRunner().invoke(main, ["validate", rel(path)])
    # Click reports sys.exit(0) as no exception at all.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == (1 if expected.severity == "error" else 0), result.output
    # The code and its place are checked above; here only that the CLI prints diagnostics.
    assert re.search(
        rf"^{re.escape(rel(path))}:\d+:\d+: {expected.severity}\[MS\d{{3}}\]: ", result.stderr, re.M
    )
    assert "Traceback" not in result.output


def test_corpus_covers_every_code() -> None:
    """Every front-end code; back-end codes (MS3xx) are covered by each back end's tests,
    MS012 (a file that cannot be read) by tests/test_validate_inputs.py, MS264 (a fixture
    file that `mlspec test` cannot find) by tests/testing/test_diagnostics.py, and MS270 (an
    environment `compile --env` names that the spec does not declare) by tests/test_cli.py."""
    covered = {expectation(path).code for path in INVALID}
    front_end = set(CODES) - BACKEND_CODES - FILE_CODES - TEST_CODES - ENV_CODES
    missing = sorted(front_end - covered)
    unknown = sorted(covered - front_end)
    assert not missing, f"codes without a case in specs/invalid/: {', '.join(missing)}"
    assert not unknown, f"cases expect codes that only a back end reports: {', '.join(unknown)}"
    assert covered == front_end


def test_corpus_is_well_formed() -> None:
    assert len(INVALID) >= 45
    for path in INVALID:
        match = CASE_NAME_RE.match(path.name)
        assert match, f"{path.name}: name it <CODE>-<short-slug>.yaml"
        assert match.group(1) == expectation(path).code, f"{path.name}: name and expectation differ"
    stale = sorted(set(KNOWN_PROBLEMS) - {path.name for path in INVALID})
    assert not stale, f"KNOWN_PROBLEMS names files that do not exist: {stale}"


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"   \n", b"\xef\xbb\xbf"])
def test_blank_file_is_empty_spec(raw: bytes) -> None:
    """Files that cannot carry an `# expect:` line: the spec is empty (MS008) at 1:1."""
    with pytest.raises(SpecError) as caught:
        analyze_bytes(raw, "blank.yaml")
    assert [(d.code, d.span.line, d.span.col) for d in caught.value.diagnostics] == [
        ("MS008", 1, 1)
    ]


# -- valid specs -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", cases(VALID + EXAMPLES))
def test_valid_spec(path: Path, snapshot: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", rel(path)])
    assert result.exception is None, result.exc_info
    assert result.exit_code == 0, result.output
    analysis = analyze_bytes(path.read_bytes(), rel(path))
    assert analysis.warnings == ()
    assert json.dumps(to_data(analysis.pipeline, spans=True), indent=2) == snapshot
