"""The flagship's serving gate on the three real engines via `mlspec run`: the same verdicts.

The flagship's gate `servable` (MLServer serves the trained model and answers 20 rows of
ingest.test) is required by its challenger promotion. One run per engine passes and promotes;
one per engine, on a copy expecting an answer shape the model never gives, blocks and promotes
nothing. The serving environment is built once for all runs (MLSPEC_SERVING_CACHE).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import airflow_env
from support.engines import FLAGSHIP, mlspec_run, registry

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

ENGINES = ("prefect", "kubeflow", "airflow")
SHAPE = "expect: {type: int, shape: [1]}"


def serving_flagship(folder: Path, shape: str) -> Path:
    """A copy of the flagship's folder whose serving gate expects `shape`."""
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("build", "__pycache__"))
    text = FLAGSHIP.read_text(encoding="utf-8")
    assert text.count(SHAPE) == 1 and "after: [data_quality, model_quality, servable]" in text
    spec = folder / "pipeline.yaml"
    spec.write_text(text.replace(SHAPE, SHAPE.replace("[1]", shape)), encoding="utf-8")
    return spec


@pytest.fixture
def run_on(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, Path], tuple[dict, Path]]:
    cache = tmp_path_factory.getbasetemp() / "serving-cache"
    monkeypatch.setenv("MLSPEC_SERVING_CACHE", str(cache))

    def run(engine: str, spec: Path) -> tuple[dict, Path]:
        state = tmp_path / f"state-{engine}"
        target: tuple[str, ...] = () if engine == "prefect" else ("--target", engine)
        if engine == "airflow":
            target += ("--airflow-python", str(airflow_env.environment()))
        code, summary, output = mlspec_run(state, str(spec), *target, timeout=1800)
        assert code == 0 and summary is not None, output[-6000:]
        return summary, state

    return run


def test_the_serving_gate_passes_alike_on_every_engine(
    tmp_path: Path, run_on: Callable[[str, Path], tuple[dict, Path]]
) -> None:
    spec = serving_flagship(tmp_path / "flagship", "[1]")
    runs = {engine: run_on(engine, spec) for engine in ENGINES}
    (reference, _), *_ = runs.values()
    assert reference["gates"]["servable"] == {"passed": True, "failed": []}
    for engine, (summary, state) in runs.items():
        assert summary["outcome"] == "passed", engine
        assert "servable" in summary["tasks"], engine
        assert summary["gates"] == reference["gates"], engine
        assert summary["promoted"] == {"challenger": "1"}, engine
        assert registry(state) == (["1"], {"challenger": "1"}), engine


def test_a_wrong_answer_shape_blocks_alike_on_every_engine(
    tmp_path: Path, run_on: Callable[[str, Path], tuple[dict, Path]]
) -> None:
    spec = serving_flagship(tmp_path / "flagship", "[3]")
    runs = {engine: run_on(engine, spec) for engine in ENGINES}
    (reference, _), *_ = runs.values()
    verdict = reference["gates"]["servable"]
    assert verdict is not None and verdict["passed"] is False and verdict["failed"]
    for engine, (summary, state) in runs.items():
        assert summary["outcome"] == "blocked", engine
        assert summary["gates"] == reference["gates"], engine
        assert summary["promoted"] == {}, engine
        assert registry(state) == ([], {}), engine
