"""The step package is read beside the spec, bounded, and pinned by the digest workers check."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlspec.compiler import analyze_file, code
from mlspec.diagnostics import SpecError
from mlspec.runtime.code import digest, folder_files

FLAGSHIP = Path(__file__).parents[2] / "examples" / "breast-cancer"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    shutil.copytree(FLAGSHIP, tmp_path / "bc", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "bc" / "pipeline.yaml"


def packages(spec: Path) -> set[tuple[str, str]]:
    pipeline = analyze_file(spec).pipeline
    return {
        (s.code.package.name, s.code.package.digest)
        for s in pipeline.steps
        if s.code is not None and s.code.package is not None
    }


def test_the_digest_is_the_one_the_worker_computes_over_the_copy(spec: Path) -> None:
    [(name, pinned)] = packages(spec)
    assert name == "breast_cancer"
    assert pinned == digest(folder_files(str(spec.parent), name))


def test_caches_and_dot_files_are_not_part_of_the_package(spec: Path) -> None:
    before = packages(spec)
    (spec.parent / "breast_cancer" / "__pycache__").mkdir()
    (spec.parent / "breast_cancer" / "__pycache__" / "steps.cpython-311.pyc").write_bytes(b"\0")
    (spec.parent / "breast_cancer" / ".DS_Store").write_bytes(b"\0\1")
    assert packages(spec) == before


def test_one_changed_line_changes_the_pin(spec: Path) -> None:
    before = packages(spec)
    steps = spec.parent / "breast_cancer" / "steps.py"
    steps.write_text(steps.read_text() + "\n# one more line\n")
    assert packages(spec) != before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: (p / "link.py").symlink_to("/etc/hostname"),
            "symbolic link, breast_cancer/link.py",
        ),
        (lambda p: (p / "model.bin").write_bytes(b"\xff\xfe\x00"), "is not UTF-8 text"),
        (lambda p: os.mkfifo(p / "pipe"), "breast_cancer/pipe, which is not a file"),
    ],
)
def test_what_cannot_be_shipped_as_reviewed_text_is_an_error_at_the_code(
    spec: Path, make: Callable[[Path], object], message: str
) -> None:
    make(spec.parent / "breast_cancer")
    with pytest.raises(SpecError) as caught:
        assert analyze_file(spec).pipeline is None  # raises before
    [problem] = caught.value.diagnostics
    assert problem.code == "MS104" and message in problem.message
    assert problem.hint


def test_a_package_larger_than_the_bound_is_refused(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(code, "MAX_BYTES", 1024)
    (spec.parent / "breast_cancer" / "big.py").write_text("#" * 2048)
    with pytest.raises(SpecError, match="problem") as caught:
        assert analyze_file(spec).pipeline is None  # raises before
    assert "larger than" in caught.value.diagnostics[0].message


def test_a_module_not_beside_the_spec_has_no_package(tmp_path: Path) -> None:
    text = (FLAGSHIP / "pipeline.yaml").read_text()
    (tmp_path / "pipeline.yaml").write_text(text)
    assert packages(tmp_path / "pipeline.yaml") == set()
