"""`mlspec validate` takes files, folders and `-`, and reports every one of them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
TYPO = ROOT / "specs" / "invalid" / "MS201-unknown-step.yaml"


def validate(*args: str | Path, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(main, ["validate", *map(str, args)], input=stdin)
    assert "Traceback" not in result.output
    return result


def test_every_file_is_reported_a_missing_one_too(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = validate(FLAGSHIP, missing, TYPO)
    assert result.exit_code == 1
    assert f"{missing}:1:1: error[MS012]: cannot read the file: No such file or directory" in (
        result.stderr
    )
    assert f"{TYPO}:" in result.stderr and "error[MS201]" in result.stderr  # after the missing
    assert result.stdout == f"{FLAGSHIP}: ok (3 steps, 3 gates, 3 environments)\n"


def test_json_lists_the_unreadable_file_with_the_others(tmp_path: Path) -> None:
    result = validate("--format", "json", tmp_path / "nope.yaml", TYPO)
    found = json.loads(result.stdout)
    assert sorted((d["file"], d["code"]) for d in found) == sorted(
        [(str(tmp_path / "nope.yaml"), "MS012"), (str(TYPO), "MS201")]
    )


def test_standard_input_is_a_spec_named_stdin() -> None:
    result = validate("-", stdin=FLAGSHIP.read_bytes())
    assert (result.exit_code, result.stdout) == (
        0,
        "<stdin>: ok (3 steps, 3 gates, 3 environments)\n",
    )
    broken = validate("-", stdin=TYPO.read_bytes())
    assert broken.exit_code == 1
    assert broken.stderr.startswith("<stdin>:") and "error[MS201]" in broken.stderr


def test_a_folder_is_searched_for_specs_only(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    (tree / "specs" / "fraud").mkdir(parents=True)
    shutil.copyfile(FLAGSHIP, tree / "specs" / "fraud" / "pipeline.yml")
    shutil.copyfile(TYPO, tree / "specs" / "typo.yaml")
    (tree / "specs" / "deployment.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
    (tree / ".github").mkdir()
    shutil.copyfile(TYPO, tree / ".github" / "hidden.yaml")  # hidden folders are skipped
    (tree / "node_modules").mkdir()
    shutil.copyfile(TYPO, tree / "node_modules" / "dep.yaml")
    (tree / "specs" / "notes.txt").write_text("apiVersion: mlspec/v1\n")  # not YAML by name
    result = validate(tree)
    assert result.exit_code == 1
    assert (
        result.stdout
        == f"{tree / 'specs' / 'fraud' / 'pipeline.yml'}: ok (3 steps, 3 gates, 3 environments)\n"
    )
    assert f"{tree / 'specs' / 'typo.yaml'}:" in result.stderr
    assert "hidden.yaml" not in result.output and "dep.yaml" not in result.output
    assert "deployment.yaml" not in result.output


def test_a_folder_without_specs_is_a_note_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / "k8s.yaml").write_text("apiVersion: v1\nkind: Service\n")
    result = validate(tmp_path)
    assert result.exit_code == 0
    assert (
        result.stderr
        == f"note: no mlspec spec (a YAML file with `apiVersion: mlspec/v1`) in {tmp_path}\n"
    )


@pytest.mark.parametrize("kind", ["named pipe", "link to nothing"])
def test_what_is_not_a_readable_regular_file_is_reported(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "spec.yaml"
    if kind == "named pipe":
        os.mkfifo(path)  # refused without waiting for a writer
    else:
        path.symlink_to(tmp_path / "gone.yaml")
    result = validate(path, FLAGSHIP)
    assert result.exit_code == 1
    assert f"{path}:1:1: error[MS012]: cannot read the file: " in result.stderr
    assert result.stdout == f"{FLAGSHIP}: ok (3 steps, 3 gates, 3 environments)\n"
