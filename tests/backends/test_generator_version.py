"""A release of mlspec changes one line of a generated file at most: its header.

The runtime embedded into DAGs, flows and KFP components used to name mlspec's version in its
docstring, once per gate component on Kubeflow: a version bump rewrote lines all over every
committed output. Every example, compiled for every target, names `mlspec VERSION` at most
once per file, in its first two lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec import __version__
from mlspec.backends.registry import get, targets
from mlspec.compiler import analyze_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
TARGETS = list(targets())


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_generator_version_is_one_header_line(spec: Path, target: str) -> None:
    backend = get(target).load()
    stamp = f"mlspec {__version__}"
    for artifact in backend.emit(analyze_file(spec).pipeline):
        lines = artifact.text.splitlines()
        found = [i for i, line in enumerate(lines) if stamp in line]
        assert len(found) <= 1 and artifact.text.count(stamp) == len(found), artifact.path
        assert all(i < 2 for i in found), (artifact.path, found)
