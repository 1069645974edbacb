"""The `mlspec` command: exit codes, output formats, targets and the all-or-nothing output folder.

Exit codes: 0 ok, 1 problems in a spec, 2 usage errors. `compile -o DIR` replaces DIR as a
whole and only when everything succeeded; a failed or killed compile leaves DIR as it was.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec import __version__
from mlspec.backends.registry import targets
from mlspec.cli import main
from mlspec.codes import CODES
from mlspec.output import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
BREAST_CANCER = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"
NAMES = {BREAST_CANCER: "breast-cancer-classifier", CHURN: "churn-scorer"}


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _write_variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = BREAST_CANCER.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """The flagship example with two misspelt keys (both reported by the parse stage)."""
    return _write_variant(
        tmp_path,
        "broken.yaml",
        ("    timeout: 30m\n", "    timeuot: 30m\n"),
        ("  retries: 1\n", "  retires: 1\n"),
    )


@pytest.fixture
def dangling(tmp_path: Path) -> Path:
    """The flagship example reading an output of a step that does not exist."""
    return _write_variant(
        tmp_path,
        "dangling.yaml",
        (
            "inputs: {model: train.model, test: ingest.test}",
            "inputs: {model: trian.model, test: ingest.test}",
        ),
    )


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root (itself included) with its bytes; None for folders."""
    tree: dict[str, bytes | None] = {".": None if root.is_dir() else b"<missing>"}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        tree[rel] = None if path.is_dir() else path.read_bytes()
    return tree


def temporaries(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.mlspec-tmp-*"))


# -- version, targets ---------------------------------------------------------------------


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"mlspec, version {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("validate", "compile", "targets", "schema"):
        assert command in result.output


def test_targets() -> None:
    result = run("targets")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert list(lines) == list(targets())
    assert lines["ir"].split()[1] == "compile"
    assert "compile, deploy, run" in lines["prefect"]


def test_targets_json() -> None:
    result = run("targets", "--format", "json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == list(targets())
    for name, target in targets().items():
        assert rows[name]["summary"] == target.summary
        assert rows[name]["deploy"] is (target.deployer is not None)
        assert rows[name]["run"] is (target.engine is not None)
    assert {n for n, row in rows.items() if row["deploy"] and row["run"]} >= {"prefect", "airflow"}


def test_validate_examples() -> None:
    result = run("validate", *EXAMPLES)
    assert result.exit_code == 0, result.output
    for path in EXAMPLES:
        assert f"{path}: ok (" in result.stdout
    assert result.stderr == ""


def test_validate_broken_spec(broken: Path) -> None:
    result = run("validate", broken)
    assert result.exit_code == 1
    assert f"{broken}:44:5: error[MS101]: unknown field 'timeuot'" in result.stderr
    assert "did you mean 'timeout'?" in result.stderr
    assert "'retires'" in result.stderr
    assert "ok (" not in result.stdout


def test_validate_dangling_reference(dangling: Path) -> None:
    result = run("validate", dangling)
    assert result.exit_code == 1
    assert "error[MS201]" in result.stderr
    assert "did you mean 'train'?" in result.stderr


def test_validate_reports_every_file(broken: Path) -> None:
    result = run("validate", BREAST_CANCER, broken, CHURN)
    assert result.exit_code == 1
    assert f"{BREAST_CANCER}: ok (" in result.stdout
    assert f"{CHURN}: ok (" in result.stdout
    assert f"{broken}:" in result.stderr


def test_validate_missing_file(tmp_path: Path) -> None:
    # A diagnostic like any other (tests/test_validate_inputs.py): the other specs are checked.
    missing = tmp_path / "nope.yaml"
    result = run("validate", missing)
    assert result.exit_code == 1
    assert f"{missing}:1:1: error[MS012]: cannot read the file" in result.stderr


def test_validate_searches_a_folder(tmp_path: Path) -> None:
    assert run("validate", tmp_path).exit_code == 0  # no spec in it: a note, not a failure


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--bogus", str(BREAST_CANCER)],
        ["validate", "--format", "xml", str(BREAST_CANCER)],
        ["validate"],
        ["compile", str(BREAST_CANCER), "--target", "ir"],
        ["compile", str(BREAST_CANCER), "-o", "out"],
        ["frobnicate"],
    ],
    ids=["unknown-option", "bad-format", "no-spec", "no-output", "no-target", "no-command"],
)
def test_usage_errors(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output or "Error:" in result.output


def test_validate_json(broken: Path) -> None:
    result = run("validate", "--format", "json", broken)
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert len(rows) >= 2
    for row in rows:
        assert row["file"] == str(broken)
        assert isinstance(row["line"], int) and row["line"] >= 1
        assert isinstance(row["column"], int) and row["column"] >= 1
        assert row["code"] in CODES
        assert row["message"]
        assert row["severity"] in ("error", "warning")
    assert [row["code"] for row in rows] == ["MS101", "MS101"]
    lines = broken.read_text(encoding="utf-8").splitlines()
    found = {lines[row["line"] - 1][row["column"] - 1 :].split(":")[0] for row in rows}
    assert found == {"timeuot", "retires"}


def test_validate_json_ok_is_an_empty_list() -> None:
    result = run("validate", "--format", "json", *EXAMPLES)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_validate_github(broken: Path) -> None:
    result = run("validate", "--format", "github", broken)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) >= 2
    pattern = re.compile(
        r"^::error file=(?P<file>[^,]+),line=(?P<line>\d+),col=(?P<col>\d+),"
        r"endLine=\d+,endColumn=\d+,title=(?P<code>MS\d{3})::.+"
    )
    for line in lines:
        match = pattern.match(line)
        assert match, line
        assert match["file"] == str(broken).replace(":", "%3A").replace(",", "%2C")
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1
        assert match["code"] in CODES


def test_validate_github_ok_prints_nothing() -> None:
    result = run("validate", "--format", "github", *EXAMPLES)
    assert result.exit_code == 0
    assert result.stdout == ""


# -- validate --target: what compile would report, without compiling ------------------------

KSERVE_CANARY = ROOT / "tests" / "rollout" / "matrix" / "kserve--canary.yaml"


@pytest.fixture
def kserve_two_weights(tmp_path: Path) -> Path:
    """A KServe canary with two weights: a valid spec that KServe cannot run (MS301)."""
    text = KSERVE_CANARY.read_text(encoding="utf-8")
    assert text.count("        - weight: 10\n") == 1
    path = tmp_path / "kserve.yaml"
    second = "        - weight: 10\n        - weight: 30\n"
    path.write_text(text.replace("        - weight: 10\n", second), encoding="utf-8")
    return path


def _weight_line(path: Path) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if "30" in line)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_runs_a_targets_checks_in_every_format(kserve_two_weights: Path, fmt: str) -> None:
    assert run("validate", kserve_two_weights, "--format", fmt).exit_code == 0  # the spec is fine
    result = run("validate", kserve_two_weights, "--target", "rollout", "--format", fmt)
    assert result.exit_code == 1, result.output
    line = _weight_line(kserve_two_weights)
    message = "KServe holds one canary percentage: a second weight step cannot run"
    if fmt == "json":
        [row] = json.loads(result.stdout)
        assert (row["code"], row["line"], row["severity"]) == ("MS301", line, "error")
        assert row["message"] == message
    elif fmt == "github":
        assert result.stdout.startswith(f"::error file={kserve_two_weights},line={line},")
        assert f"title=MS301::{message}" in result.stdout
    else:
        assert f"{kserve_two_weights}:{line}:11: error[MS301]: {message}" in result.stderr
        assert "ok (" not in result.stdout


def test_validate_targets_repeat_or_take_commas(kserve_two_weights: Path) -> None:
    """Beside a pipeline the same problem is a warning: the pipeline is still written."""
    result = run("validate", kserve_two_weights, "-t", "prefect,airflow", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["message"] for r in rows if r["line"] == _weight_line(kserve_two_weights)] == [
        "KServe holds one canary percentage: a second weight step cannot run; the rollout "
        "manifests are not written"
    ]  # reported once, though both targets write the manifests
    assert {r["severity"] for r in rows} == {"warning"}
    result = run("validate", CHURN, "-t", "kubeflow", "--target", "rollout,kubeflow")
    assert result.exit_code == 0, result.output
    assert f"{CHURN}: ok (4 steps, 2 gates; kubeflow, rollout checked)" in result.stdout


def test_validate_needs_no_model_pin_for_kserve() -> None:
    """KServe's --model-uri is compile's business: validate checks the spec."""
    result = run("validate", KSERVE_CANARY, "--target", "rollout")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("target", "message"),
    [("rollot", "unknown target 'rollot'. Did you mean 'rollout'?"), (",", "an empty target")],
)
def test_validate_unknown_target_is_a_usage_error(target: str, message: str) -> None:
    result = run("validate", BREAST_CANCER, "--target", target)
    assert result.exit_code == 2
    assert message in result.stderr


# -- compile: targets -----------------------------------------------------------------------


def test_compile_unknown_target_suggests(tmp_path: Path) -> None:
    result = run("compile", BREAST_CANCER, "--target", "kubeflw", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "unknown target 'kubeflw'" in result.stderr
    assert "did you mean 'kubeflow'?" in result.stderr.lower()
    assert not (tmp_path / "out").exists()


def test_compile_unknown_target_without_a_close_match(tmp_path: Path) -> None:
    result = run("compile", BREAST_CANCER, "--target", "zzzzzz", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "unknown target 'zzzzzz'" in result.stderr
    assert "did you mean" not in result.stderr.lower()


def test_a_whole_spec_problem_points_at_its_first_key_not_a_comment(tmp_path: Path) -> None:
    spec = tmp_path / "no-rollout.yaml"
    spec.write_text(
        "# A pipeline without a rollout section:\n# nothing to roll out.\n\n"
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: x, version: 1.0.0}\n"
        'steps:\n  a: {python: "m:f", outputs: {n: int}}\n',
        encoding="utf-8",
    )
    result = run("compile", spec, "--target", "rollout", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{spec}:4:1: error[MS301]: the spec has no rollout section" in result.stderr
    assert "4 | apiVersion: mlspec/v1\n  | ^^^^^^^^^^\n" in result.stderr


# -- compile: the output folder -------------------------------------------------------------


@pytest.mark.parametrize("spec", [BREAST_CANCER, CHURN], ids=["breast-cancer", "churn"])
def test_compile_ir_writes_the_folder(tmp_path: Path, spec: Path) -> None:
    out = tmp_path / "gen" / "ir"  # the parent does not exist yet
    result = run("compile", spec, "--target", "ir", "-o", out)
    assert result.exit_code == 0, result.output
    name = f"{NAMES[spec]}.ir.json"
    assert sorted(p.name for p in out.iterdir()) == sorted([name, MANIFEST])
    data = json.loads((out / name).read_text(encoding="utf-8"))
    assert data["name"] == NAMES[spec]
    manifest = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    assert manifest[0].startswith("#")
    assert manifest[1:] == [name]
    assert f"wrote 1 file(s) to {out} (ir)" in result.stdout
    assert temporaries(out) == []


def test_compile_json_format_prints_only_json(tmp_path: Path) -> None:
    result = run("compile", CHURN, "-t", "ir", "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_second_compile_replaces_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("compile", BREAST_CANCER, "-t", "ir", "-o", out).exit_code == 0
    (out / "left-over.txt").write_text("from an older compile\n", encoding="utf-8")
    (out / "sub").mkdir()
    (out / "sub" / "deeper.txt").write_text("x\n", encoding="utf-8")
    result = run("compile", CHURN, "-t", "ir", "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["churn-scorer.ir.json", MANIFEST])
    assert temporaries(out) == []
    # And again with the same spec: same bytes.
    before = snapshot(out)
    assert run("compile", CHURN, "-t", "ir", "-o", out).exit_code == 0
    assert snapshot(out) == before


def test_compile_into_an_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert run("compile", CHURN, "-t", "ir", "-o", out).exit_code == 0
    assert (out / "churn-scorer.ir.json").is_file()


@pytest.mark.parametrize("spec", ["broken", "dangling"])
def test_broken_compile_leaves_the_folder_unchanged(
    tmp_path: Path, spec: str, request: pytest.FixtureRequest
) -> None:
    broken = request.getfixturevalue(spec)
    out = tmp_path / "out"
    assert run("compile", BREAST_CANCER, "-t", "ir", "-o", out).exit_code == 0
    (out / "note.txt").write_bytes(b"hand-made \x00\xff bytes\n")
    before = snapshot(out)
    inode = out.stat().st_ino
    result = run("compile", broken, "-t", "ir", "-o", out)
    assert result.exit_code == 1
    assert "error[MS" in result.stderr
    assert snapshot(out) == before
    assert out.stat().st_ino == inode
    assert temporaries(out) == []


def test_broken_compile_creates_no_folder(tmp_path: Path, broken: Path) -> None:
    out = tmp_path / "out"
    assert run("compile", broken, "-t", "ir", "-o", out).exit_code == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [broken]


def test_compile_missing_spec(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("compile", tmp_path / "nope.yaml", "-t", "ir", "-o", out)
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert not out.exists()


def test_compile_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("do not delete\n", encoding="utf-8")
    (out / "sub").mkdir()
    (out / "sub" / "more.bin").write_bytes(bytes(range(256)))
    before = snapshot(out)
    result = run("compile", CHURN, "-t", "ir", "-o", out)
    assert result.exit_code == 2
    assert "not written by mlspec" in result.stderr
    assert snapshot(out) == before
    assert temporaries(out) == []


def test_compile_refuses_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file\n", encoding="utf-8")
    result = run("compile", CHURN, "-t", "ir", "-o", out)
    assert result.exit_code == 2
    assert out.read_text(encoding="utf-8") == "a file\n"


# -- a killed compile -----------------------------------------------------------------------

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from mlspec import output
    from mlspec.backends.base import Artifact

    out, when = Path(sys.argv[1]), sys.argv[2]
    written = 0
    original_write_bytes = Path.write_bytes
    original_rename = Path.rename

    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def write_bytes(self, data):
        global written
        if when == "second-file" and written == 1:
            die()
        written += 1
        return original_write_bytes(self, data)

    renames = 0

    def rename(self, target):
        global renames
        renames += 1
        if when == "between-renames" and renames == 2:
            die()
        return original_rename(self, target)

    Path.write_bytes = write_bytes
    Path.rename = rename
    if when == "before-exchange":
        output._exchange = lambda a, b: die()
    if when == "between-renames":
        # As on a platform (or file system) without an atomic exchange of two folders.
        output.sys = type("FakeSys", (), {"platform": "darwin"})()
    artifacts = [Artifact(f"new-{i}.txt", f"new {i}\\n") for i in range(3)]
    artifacts.append(Artifact("nested/deep.txt", "new nested\\n"))
    output.write_tree(artifacts, out)
    print("not killed")
    """
)


def _kill_mid_write(out: Path, when: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(out), when],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _killed_compile_leaves_dir_unchanged(tmp_path: Path, when: str) -> None:
    out = tmp_path / "out"
    assert run("compile", BREAST_CANCER, "-t", "ir", "-o", out).exit_code == 0
    before = snapshot(out)
    result = _kill_mid_write(out, when)
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stdout, result.stderr)
    assert "not killed" not in result.stdout
    stale = temporaries(out)
    assert stale, "the killed write left no temporary folder: was it killed mid-write?"
    assert snapshot(out) == before

    # The next compile of the same DIR cleans the stale temporary folder up.
    result2 = run("compile", CHURN, "-t", "ir", "-o", out)
    assert result2.exit_code == 0, result2.output
    assert temporaries(out) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(["churn-scorer.ir.json", MANIFEST])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("when", ["second-file", "before-exchange"])
def test_killed_compile_leaves_the_folder_unchanged(tmp_path: Path, when: str) -> None:
    _killed_compile_leaves_dir_unchanged(tmp_path, when)


def test_killed_compile_without_atomic_exchange_is_recovered(tmp_path: Path, broken: Path) -> None:
    # Without an atomic exchange (non-Linux), a kill between the two renames leaves the previous
    # output in a backup; the next compile puts it back before anything else, even if it fails.
    out = tmp_path / "out"
    assert run("compile", BREAST_CANCER, "-t", "ir", "-o", out).exit_code == 0
    before = snapshot(out)
    result = _kill_mid_write(out, "between-renames")
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stdout, result.stderr)
    assert not out.exists()
    assert snapshot(tmp_path / ".out.mlspec-previous") == before
    assert run("compile", broken, "-t", "ir", "-o", out).exit_code == 1
    assert snapshot(out) == before
    assert not (tmp_path / ".out.mlspec-previous").exists()


def test_output_may_not_be_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    for target in (".", str(tmp_path.parent)):
        result = run("compile", CHURN, "-t", "ir", "-o", target)
        assert result.exit_code == 2
        assert "working folder" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_stale_temporaries_of_other_folders_are_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    other = tmp_path / ".other.mlspec-tmp-abc"
    other.mkdir()
    lookalike = tmp_path / ".out-2.mlspec-tmp-abc"
    lookalike.mkdir()
    assert run("compile", CHURN, "-t", "ir", "-o", out).exit_code == 0
    assert other.is_dir()
    assert lookalike.is_dir()


# -- fresh processes ------------------------------------------------------------------------

IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys

    BANNED = {"kfp", "prefect", "airflow", "mlflow", "kubernetes"}
    attempted = []

    class Recorder:
        # Records every attempt to import a banned package, installed or not.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BANNED:
                attempted.append(name)
            return None

    sys.meta_path.insert(0, Recorder())

    from mlspec.cli import main

    codes = []
    for args in json.loads(sys.argv[1]):
        try:
            main(args, standalone_mode=False)
            codes.append(0)
        except SystemExit as exc:
            codes.append(exc.code)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BANNED)
    print(json.dumps({"codes": codes, "loaded": loaded, "attempted": sorted(set(attempted))}))
    """
)


def test_validate_imports_no_orchestrator(tmp_path: Path, broken: Path) -> None:
    commands = [
        ["validate", *map(str, EXAMPLES)],
        ["validate", "--format", "json", str(broken)],
        ["targets"],
        ["compile", str(CHURN), "--target", "ir", "-o", str(tmp_path / "out")],
        # A target's checks need its back end, never its orchestrator (nor kfp).
        ["validate", "-t", "kubeflow,airflow,prefect,rollout", *map(str, EXAMPLES)],
    ]
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 1, 0, 0, 0]
    assert report["loaded"] == []
    assert report["attempted"] == []


def test_compile_through_a_symlink_leaves_no_temporaries(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    result = run("compile", CHURN, "-t", "ir", "-o", link)
    assert result.exit_code == 0, result.output
    assert temporaries(link) == []
    assert link.is_symlink()
    assert (real / "churn-scorer.ir.json").is_file()


# -- inputs that once crashed the CLI, now diagnostics --------------------------------------

CRASHERS = {
    "nan-param-default": (
        (
            "test_fraction: {type: float, default: 0.25}",
            "test_fraction: {type: float, default: .nan}",
        ),
        "compile",
    ),
    "inf-analysis-max": (
        ("      max: 0.01\n", "      max: .inf\n"),
        "compile",
    ),
    "huge-integer-threshold": (
        ("row_count: {min: 250}", "row_count: {min: 1" + "0" * 400 + "}"),
        "validate",
    ),
    "long-timezone": (
        ("timezone: Europe/Berlin", "timezone: " + "a/" * 400 + "b"),
        "validate",
    ),
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(name, id=name) for name in CRASHERS],
)
def test_known_crashers_are_diagnostics(tmp_path: Path, case: str) -> None:
    replacement, command = CRASHERS[case]
    spec = _write_variant(tmp_path, "spec.yaml", replacement)
    args: list[str | Path] = [command, spec]
    if command == "compile":
        args += ["-t", "ir", "-o", tmp_path / "out"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1
    assert "error[MS" in result.stderr
