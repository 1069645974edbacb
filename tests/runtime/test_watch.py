"""The data-arrival fingerprint: new, changed and removed files are seen; nothing else is."""

from __future__ import annotations

import os
from pathlib import Path

from mlspec.runtime.watch import arrived, fingerprint


def test_nothing_at_the_path_is_no_arrival(tmp_path: Path) -> None:
    assert fingerprint(str(tmp_path / "missing")) is None
    assert fingerprint(str(tmp_path)) is None  # an empty folder
    assert arrived(str(tmp_path), None) == (False, None)


def test_a_new_changed_or_removed_file_is_an_arrival_and_a_second_look_is_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "day1.csv").write_text("a,b\n1,2\n")
    seen, first = arrived(str(tmp_path), None)
    assert seen and first is not None
    assert arrived(str(tmp_path), first) == (False, first)  # nothing new since
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "day2.csv").write_text("a,b\n3,4\n")
    seen, second = arrived(str(tmp_path), first)
    assert seen and second != first
    os.utime(tmp_path / "day1.csv", ns=(1, 1))  # rewritten: another time
    seen, third = arrived(str(tmp_path), second)
    assert seen and third not in (first, second)
    (tmp_path / "sub" / "day2.csv").unlink()
    assert arrived(str(tmp_path), third)[0]


def test_dot_files_are_not_data(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("x\n")
    before = fingerprint(str(tmp_path))
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "upload.tmp").write_text("half")
    assert fingerprint(str(tmp_path)) == before


def test_a_single_file_can_be_watched(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("y\n1\n")
    before = fingerprint(str(path))
    path.write_text("y\n1\n0\n")
    assert before is not None and fingerprint(str(path)) != before
