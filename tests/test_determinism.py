"""Every example compiles to the same bytes for every target, whatever the process: another
hash seed, time zone, locale and folder, and in-process. The targets are the registry's
(`mlspec.backends.registry.targets()`), so a new target is covered when it is registered.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import generated

from mlspec.backends.registry import targets
from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
# Every example has a rollout: pinned as CI pins it (`compile --model-version`), the manifests
# go through the pinning pass too.
PINS = ("--model-version", "7")


@pytest.mark.parametrize("target", sorted(targets()))
@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_compile_is_deterministic(
    tmp_path: Path, spec: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generated.compile_in(
        tmp_path / "a", spec, target, *PINS, PYTHONHASHSEED="0", TZ="UTC", LC_ALL="C"
    )
    second = generated.compile_in(
        tmp_path / "b" / "somewhere" / "else",
        spec,
        target,
        *PINS,
        PYTHONHASHSEED="4242",
        TZ="Pacific/Chatham",
        LC_ALL="C.UTF-8",
        KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT="true",  # kfp's default must not leak in
    )
    assert first, "nothing was written"
    assert first == second
    shutil.copytree(spec.parent, tmp_path / "c")
    monkeypatch.chdir(tmp_path / "c")
    result = CliRunner().invoke(main, ["compile", spec.name, "-t", target, "-o", "out", *PINS])
    assert result.exit_code == 0, result.output
    assert generated.written(tmp_path / "c" / "out") == first
