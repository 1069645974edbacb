"""Spec input is read within bounds (issue #15, item 2).

Only regular files are read, without blocking on a named pipe; at most the size limit plus one
byte is read; a diagnostic's excerpt of a very long line is a window around the caret. Every
case runs the real command in a child process with a time limit and an address-space limit,
and checks its wall time and peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support.bounded_run import Bounded, run_mlspec

from mlspec.compiler.source import MAX_BYTES, load_text
from mlspec.diagnostics import EXCERPT_WIDTH, Diagnostic, Span, render

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"
SECONDS = 20  # the commands below take about a second; a hang is killed at 30
PEAK_RSS_MB = 150  # mlspec itself needs about 50 MB; reading 300 MB would show


def _baseline_rss_mb() -> float:
    """What a bare `mlspec --version` child measures now. A child is forked from this test
    process, and the pages it shares before exec count in its peak RSS: after other tests
    imported kfp or prefect here, that alone can pass PEAK_RSS_MB."""
    return run_mlspec("--version").peak_rss_mb


def assert_bounded(result: Bounded, code: int, *expected: str) -> None:
    shown = f"exit {result.returncode}, {result.seconds:.1f} s, {result.peak_rss_mb:.0f} MB\n"
    shown += result.stderr[-2000:]
    assert result.returncode == code, shown
    assert result.seconds < SECONDS, shown
    if result.peak_rss_mb >= PEAK_RSS_MB:
        assert result.peak_rss_mb - _baseline_rss_mb() < PEAK_RSS_MB, shown
    assert "Traceback" not in result.stderr, shown
    assert len(result.stdout) + len(result.stderr) < 5_000, shown
    for text in expected:
        assert text in result.stderr, shown


def commands(spec: Path, out: Path) -> list[list[str | Path]]:
    """Every command that reads a spec, reading `spec`."""
    return [
        ["validate", spec],
        ["compile", spec, "-t", "ir", "-o", out],
        ["compile", spec, "-t", "ir", "-o", out, "--check"],
        ["graph", spec],
        ["diff", spec, CHURN],
        ["diff", CHURN, spec],
    ]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def zeros(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.symlink_to("/dev/zero")
    return path


def sparse(path: Path, size: int) -> Path:
    """A file of `size` NUL bytes that takes no disk space."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def refused(args: list[str | Path]) -> int:
    """validate reports an unreadable spec (MS012) and checks the others: exit 1; the commands
    that act on one spec refuse it as a usage error: exit 2."""
    return 1 if args[0] == "validate" else 2


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path, fifo: Path) -> None:
    for args in commands(fifo, tmp_path / "out"):
        assert_bounded(run_mlspec(*args), refused(args), "a named pipe, not a regular file")


def test_a_link_to_a_device_is_refused_unread(tmp_path: Path, zeros: Path) -> None:
    for args in commands(zeros, tmp_path / "out"):
        assert_bounded(run_mlspec(*args), refused(args), "a device, not a regular file")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    # compile refuses a folder as its argument already (Click), validate searches it for specs;
    # diff reads it.
    folder = tmp_path / "spec.yaml"
    folder.mkdir()
    assert_bounded(run_mlspec("diff", folder, CHURN), 2, "a folder, not a regular file")


def test_standard_input_as_a_pipe_is_refused(tmp_path: Path) -> None:
    # /dev/stdin names whatever stdin is: here a pipe that nobody ever writes to.
    reader, writer = os.pipe()
    try:
        result = run_mlspec("validate", "/dev/stdin", stdin=reader)
    finally:
        os.close(reader)
        os.close(writer)
    assert_bounded(result, 1, "error[MS012]", "a named pipe, not a regular file")


@pytest.mark.parametrize("size_mb", [20, 300])
def test_a_huge_file_is_refused_after_the_limit_plus_one_byte(tmp_path: Path, size_mb: int) -> None:
    spec = sparse(tmp_path / "spec.yaml", size_mb << 20)
    for args in commands(spec, tmp_path / "out"):
        result = run_mlspec(*args)
        assert_bounded(result, 1, "error[MS007]", f"larger than {MAX_BYTES:,} bytes")


def test_a_huge_file_in_git_is_refused(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    git("init", "-q")
    sparse(tmp_path / "big.yaml", 20 << 20)
    git("add", "big.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "big")
    result = run_mlspec("diff", "HEAD:big.yaml", CHURN, cwd=tmp_path)
    assert_bounded(result, 1, "HEAD:big.yaml:1:1: error[MS007]", f"larger than {MAX_BYTES:,}")


def test_a_long_line_of_nul_bytes_is_shown_as_a_window(tmp_path: Path) -> None:
    # Just under the size limit: the file is read, and its excerpt must not be.
    spec = sparse(tmp_path / "spec.yaml", MAX_BYTES)
    result = run_mlspec("validate", spec)
    assert_bounded(result, 1, "error[MS007]: the file contains a NUL character")
    excerpt = result.stderr.splitlines()[2]
    assert excerpt == "1 | " + "\u2400" * EXCERPT_WIDTH + "\u2026"


def test_a_long_line_is_cut_around_the_caret(tmp_path: Path) -> None:
    # The example on one line (JSON is YAML), with a long description and an unknown key
    # after it, 100,000 characters in.
    data = load_text(CHURN.read_text(encoding="utf-8"), "churn.yaml").data
    data["metadata"]["description"] = "x" * 100_000
    data["metadata"]["surprise"] = 1
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(data) + "\n", encoding="utf-8")
    result = run_mlspec("validate", spec)
    assert_bounded(result, 1, "error[MS101]: unknown field 'surprise'")
    lines = result.stderr.splitlines()
    excerpt = lines[lines.index("  |") + 1]
    assert len(excerpt) == len("1 | ") + EXCERPT_WIDTH + 2, excerpt
    assert '"surprise": 1' in excerpt


def test_the_caret_points_into_the_window() -> None:
    line = "a: " + "x" * 5_000 + " wrong " + "y" * 5_000
    col = line.index("wrong") + 1
    d = Diagnostic(Span("f.yaml", 1, col, 1, col + 5), "MS104", "invalid value", "a hint")
    shown = render([d], "text", {"f.yaml": line}).splitlines()
    source, caret = shown[2][len("1 | ") :], shown[3][len("  | ") :]
    assert source.startswith("\u2026") and source.endswith("\u2026")
    assert len(source) == EXCERPT_WIDTH + 2
    start = caret.index("^")
    assert caret[start:] == "^^^^^"
    assert source[start : start + 5] == "wrong"
    # A span that runs past the window ends at the ellipsis.
    long = Diagnostic(Span("f.yaml", 1, 4, 1, 4_000), "MS104", "invalid value")
    shown = render([long], "text", {"f.yaml": line}).splitlines()
    assert shown[3] == "  |    " + "^" * (EXCERPT_WIDTH - 2)


def test_check_does_not_read_a_huge_file_in_the_folder(tmp_path: Path) -> None:
    # The folder is committed content (a pull request's): --check reads a file whole only if it
    # has the size of the file compile writes there, and shows no diff of a huge one.
    out = tmp_path / "out"
    assert_bounded(run_mlspec("compile", CHURN, "-t", "ir", "-o", out), 0)
    sparse(out / "churn-scorer.ir.json", 300 << 20)
    sparse(out / "extra.bin", 300 << 20)
    result = run_mlspec("compile", CHURN, "-t", "ir", "-o", out, "--check")
    assert_bounded(result, 1)
    assert "is stale: 1 changed, 0 missing, 1 extra" in result.stdout
    assert f"{out}/extra.bin is 314,572,800 bytes, too large to show" in result.stdout
    assert f"{out}/churn-scorer.ir.json is 314,572,800 bytes, too large" in result.stdout
