"""`mlspec compile --check`: a committed output folder against what compile would write now.

The rendered-manifests pattern: CI proves that the generated files in git were regenerated
after the last spec change. Exit 0 and "DIR is up to date", or exit 1 with "DIR is stale", the
changed, missing and extra files, and a unified diff (a/ the folder, b/ what compile would
write). A spec with errors exits 1 too, with its diagnostics and "was not compared" instead.
--check never writes.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec import drift
from mlspec.backends.base import Artifact
from mlspec.backends.registry import targets
from mlspec.cli import main
from mlspec.output import MANIFEST, manifest_text

ROOT = Path(__file__).resolve().parents[1]
BREAST_CANCER = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"
KUSTOMIZATION = "rollout/kustomization.yaml"


def update_command(out: Path) -> str:
    """The command the report suggests, quoted for a shell: a clone's path may hold a space."""
    return shlex.join(
        ["mlspec", "compile", str(BREAST_CANCER), "--target", "airflow", "-o", str(out)]
    )


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def check(out: Path, *extra: str, spec: Path = BREAST_CANCER, target: str = "airflow") -> Result:
    return run("compile", spec, "--target", target, "-o", out, "--check", *extra)


def state(root: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry under root's parent: bytes (None for folders), mtime and inode."""
    found = {}
    for path in sorted([root.parent, *root.parent.rglob("*")]):
        info = path.lstat()
        content = None if path.is_dir() else path.read_bytes()
        found[str(path)] = (content, info.st_mtime_ns, info.st_ino)
    return found


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The flagship compiled for Airflow: the DAG file, rollout/ manifests and the manifest."""
    folder = tmp_path / "committed" / "airflow"
    result = run("compile", BREAST_CANCER, "--target", "airflow", "-o", folder)
    assert result.exit_code == 0, result.output
    assert (folder / KUSTOMIZATION).is_file()
    return folder


# -- up to date -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", list(targets()))
@pytest.mark.parametrize("spec", [BREAST_CANCER, CHURN], ids=["breast-cancer", "churn"])
def test_a_fresh_compile_is_up_to_date(tmp_path: Path, spec: Path, target: str) -> None:
    folder = tmp_path / "out"
    assert run("compile", spec, "--target", target, "-o", folder).exit_code == 0
    files = len([p for p in folder.rglob("*") if p.is_file()])
    result = check(folder, spec=spec, target=target)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{folder} is up to date ({files} files)\n"
    assert "error[" not in result.stderr  # warnings are printed, as by a plain compile


def test_a_pinned_rollout_is_compared_with_the_same_pin(tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    pinned = ("--model-version", "7")
    assert run("compile", BREAST_CANCER, "-t", "rollout", "-o", folder, *pinned).exit_code == 0
    assert check(folder, *pinned, target="rollout").exit_code == 0
    result = check(folder, "--model-version", "8", target="rollout")
    assert result.exit_code == 1
    changed = [line for line in result.stdout.splitlines() if line[:1] in "+-"]
    assert "-              value: models:/breast-cancer-classifier/7" in changed
    assert "+              value: models:/breast-cancer-classifier/8" in changed
    assert result.stdout.endswith(f"-o {folder} --model-version 8\n")


# -- stale ----------------------------------------------------------------------------------


def test_a_changed_file_is_stale_with_a_diff(out: Path) -> None:
    path = out / KUSTOMIZATION
    text = path.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("  - rollout-"))
    path.write_text(text.replace(old, "  - rollout-renamed-by-hand.yaml"), encoding="utf-8")
    result = check(out)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{out} is stale: 1 changed, 0 missing, 0 extra"
    assert lines[1] == f"  changed  {out}/{KUSTOMIZATION}"
    shown = str(out).lstrip("/")
    assert f"--- a/{shown}/{KUSTOMIZATION}" in lines
    assert f"+++ b/{shown}/{KUSTOMIZATION}" in lines
    assert "-  - rollout-renamed-by-hand.yaml" in lines
    assert f"+{old}" in lines
    assert lines[-1] == "to update it: " + update_command(out)
    assert "error[" not in result.stderr  # the spec's warnings only (MS302: Python steps)


def test_a_missing_file_is_stale(out: Path) -> None:
    gone = next(p for p in sorted((out / "rollout").iterdir()) if p.name.startswith("service-"))
    text = gone.read_text(encoding="utf-8")
    gone.unlink()
    result = check(out)
    assert result.exit_code == 1
    rel = gone.relative_to(out).as_posix()
    assert result.stdout.startswith(f"{out} is stale: 0 changed, 1 missing, 0 extra\n")
    assert f"  missing  {out}/{rel}  (compile would write it)\n" in result.stdout
    assert f"--- /dev/null\n+++ b/{str(out).lstrip('/')}/{rel}\n" in result.stdout
    assert "".join(f"+{line}\n" for line in text.splitlines()) in result.stdout


def test_extra_files_are_stale(out: Path) -> None:
    (out / "notes.txt").write_text("hand-written\n", encoding="utf-8")
    (out / "rollout" / "patches").mkdir()
    (out / "rollout" / "patches" / "replicas.yaml").write_text("replicas: 9", encoding="utf-8")
    (out / "empty-folder").mkdir()  # git cannot commit it: not reported
    result = check(out)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{out} is stale: 0 changed, 0 missing, 2 extra\n")
    assert f"  extra    {out}/notes.txt  (compile would remove it)\n" in result.stdout
    assert f"  extra    {out}/rollout/patches/replicas.yaml  (compile" in result.stdout
    shown = str(out).lstrip("/")
    assert f"--- a/{shown}/notes.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-hand-written\n" in (
        result.stdout
    )
    assert "-replicas: 9\n\\ No newline at end of file\n" in result.stdout


def test_the_manifest_listing_is_compared(out: Path) -> None:
    with (out / MANIFEST).open("a", encoding="utf-8") as manifest:
        manifest.write("rollout/forgotten.yaml\n")
    result = check(out)
    assert result.exit_code == 1
    assert f"  changed  {out}/{MANIFEST}\n" in result.stdout
    assert "\n-rollout/forgotten.yaml\n" in result.stdout


def test_a_missing_folder_is_stale(tmp_path: Path) -> None:
    folder = tmp_path / "never-compiled"
    result = check(folder)
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert first == f"{folder} is stale: 0 changed, 25 missing, 0 extra; the folder does not exist"
    assert f"  missing  {folder}/{MANIFEST}  (compile would write it)" in result.stdout
    assert f"  missing  {folder}/{KUSTOMIZATION}  (compile would write it)" in result.stdout
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_is_stale(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    result = check(tmp_path / "out")
    assert result.exit_code == 1
    assert "0 changed, 25 missing, 0 extra\n" in result.stdout


def test_line_endings_are_named(out: Path) -> None:
    path = out / KUSTOMIZATION
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    result = check(out)
    assert result.exit_code == 1
    assert "differ only in line endings (check .gitattributes)\n" in result.stdout


def test_a_link_is_listed_not_followed(out: Path) -> None:
    (out / "link.yaml").symlink_to(out / KUSTOMIZATION)
    os.mkfifo(out / "pipe")  # reading it would block: it must not be read
    result = check(out)
    assert result.exit_code == 1
    assert "0 changed, 0 missing, 2 extra" in result.stdout
    assert "link.yaml is not a regular file" in result.stdout
    assert "pipe is not a regular file" in result.stdout


# -- --check writes nothing -----------------------------------------------------------------


@pytest.mark.parametrize("change", ["none", "edit", "add", "remove"])
def test_check_writes_nothing(out: Path, change: str) -> None:
    if change == "edit":
        (out / KUSTOMIZATION).write_text("edited\n", encoding="utf-8")
    elif change == "add":
        (out / "rollout" / "extra.yaml").write_text("x: 1\n", encoding="utf-8")
    elif change == "remove":
        (out / KUSTOMIZATION).unlink()
    before = state(out)
    result = check(out)
    assert result.exit_code == (0 if change == "none" else 1), result.output
    assert state(out) == before


def test_check_does_not_restore_a_backup(tmp_path: Path) -> None:
    """A plain compile first puts back the folder a killed compile left as a backup; --check
    writes nothing, so it reports the folder as missing and leaves the backup alone."""
    backup = tmp_path / ".out.mlspec-previous"
    assert run("compile", BREAST_CANCER, "-t", "airflow", "-o", backup).exit_code == 0
    before = state(backup)
    result = check(tmp_path / "out")
    assert result.exit_code == 1
    assert "the folder does not exist" in result.stdout
    assert state(backup) == before


# -- a bad spec, a bad folder, the formats --------------------------------------------------


def test_a_spec_with_errors_is_not_compared(out: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = BREAST_CANCER.read_text(encoding="utf-8")
    broken.write_text(text.replace("    timeout: 30m\n", "    timeuot: 30m\n"), encoding="utf-8")
    before = state(out)
    result = check(out, spec=broken)
    assert result.exit_code == 1
    assert "error[MS101]: unknown field 'timeuot'" in result.stderr
    assert result.stderr.endswith(f"{broken} has errors, so {out} was not compared\n")
    assert result.stdout == ""
    assert state(out) == before


def test_a_folder_compile_would_refuse_is_a_usage_error(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("not generated\n", encoding="utf-8")
    result = check(mine)
    assert result.exit_code == 2
    assert "not written by mlspec" in result.stderr
    (tmp_path / "file").write_text("x\n", encoding="utf-8")
    result = check(tmp_path / "file")
    assert result.exit_code == 2
    assert "is a file" in result.stderr


def test_json_format_keeps_stdout_for_diagnostics(out: Path) -> None:
    (out / KUSTOMIZATION).unlink()
    result = check(out, "--format", "json")
    assert result.exit_code == 1
    # No errors (warnings only: MS302 for Python steps in Airflow workers): exit 1 means stale.
    assert [d for d in json.loads(result.stdout) if d["severity"] == "error"] == []
    assert result.stderr.startswith(f"{out} is stale: 0 changed, 1 missing, 0 extra\n")


def test_github_format_annotates_a_stale_folder(out: Path) -> None:
    (out / "notes.txt").write_text("x\n", encoding="utf-8")
    result = check(out, "--format", "github")
    assert result.exit_code == 1
    # After the spec's warnings (::warning ...), the one error: the stale folder.
    [first] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert first.startswith(f"::error title=mlspec compile --check::{out} is stale (0 changed,")
    assert f"run: {update_command(out)}" in first
    assert f"\n{out} is stale: 0 changed, 0 missing, 1 extra\n" in result.stdout
    up_to_date = check(out.parent / "fresh", "--format", "github")
    assert up_to_date.exit_code == 1  # missing: annotated too
    assert "\n::error " in up_to_date.stdout


# -- the comparison itself ------------------------------------------------------------------


def test_compare_is_a_plain_function(tmp_path: Path) -> None:
    folder = tmp_path / "gen"
    (folder / "sub").mkdir(parents=True)
    (folder / "same.txt").write_text("one\n", encoding="utf-8")
    (folder / "sub" / "changed.txt").write_text("a\nb\n", encoding="utf-8")
    (folder / "old.txt").write_text("bye\n", encoding="utf-8")
    (folder / MANIFEST).write_text(manifest_text(["new.txt", "same.txt", "sub/changed.txt"]))
    artifacts = [
        Artifact("same.txt", "one\n"),
        Artifact("sub/changed.txt", "a\nc\n"),
        Artifact("new.txt", "hi\n"),
    ]
    found = drift.compare(artifacts, folder, "gen")
    assert found.changed == ("sub/changed.txt",)
    assert (found.missing, found.extra) == (("new.txt",), ("old.txt",))
    assert found.stale and found.exists and found.expected == 4
    assert found.diff == (
        "--- /dev/null\n+++ b/gen/new.txt\n@@ -0,0 +1 @@\n+hi\n"
        "--- a/gen/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
        "--- a/gen/sub/changed.txt\n+++ b/gen/sub/changed.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    )
    (folder / "new.txt").write_text("hi\n", encoding="utf-8")
    (folder / "old.txt").unlink()
    (folder / "same.txt").write_text("one\f\u2028\n", encoding="utf-8")
    assert drift.compare(artifacts, folder, "gen").diff.startswith(
        "--- a/gen/same.txt\n+++ b/gen/same.txt\n@@ -1 +1 @@\n-one\f\u2028\n+one\n---"
    )
    (folder / "same.txt").write_text("one\n", encoding="utf-8")
    assert drift.compare(artifacts, folder).changed == ("sub/changed.txt",)
    (folder / "sub" / "changed.txt").write_text("a\nc\n", encoding="utf-8")
    assert not drift.compare(artifacts, folder).stale
