"""The flagship's serving gate on the three real engines via `mlspec run`: the same verdicts.

The flagship's gate `servable` (MLServer serves the trained model and answers 20 rows of
ingest.test) is required by its challenger promotion. One run per engine passes and promotes;
one per engine, on a copy expecting an answer shape the model never gives, blocks and promotes
nothing. The passing runs are the test run's flagship runs (support/engines.py); the blocking
runs serve from the environment those built (the default MLSPEC_SERVING_CACHE).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import airflow_env
from support.engines import FLAGSHIP, Run, mlspec_run, registry

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
def run_on(tmp_path: Path) -> Callable[[str, Path], tuple[dict, Path]]:
    def run(engine: str, spec: Path) -> tuple[dict, Path]:
        state = tmp_path / f"state-{engine}"
        target: tuple[str, ...] = () if engine == "prefect" else ("--target", engine)
        if engine == "airflow":
            target += ("--airflow-python", str(airflow_env.environment()))
        code, summary, output = mlspec_run(state, str(spec), *target, timeout=1800)
        assert code == 0 and summary is not None, output[-6000:]
        return summary, state

    return run


def test_the_serving_gate_passes_alike_on_every_engine(flagship_run: Callable[[str], Run]) -> None:
    # The flagship's own gate expects the shape its model answers: the test run's flagship runs
    # (support/engines.py) are the passing runs.
    assert SHAPE in FLAGSHIP.read_text(encoding="utf-8")
    runs = {engine: flagship_run(engine) for engine in ENGINES}
    reference = runs[ENGINES[0]].summary
    assert reference["gates"]["servable"] == {"passed": True, "failed": []}
    for engine, run in runs.items():
        assert run.summary["outcome"] == "passed", engine
        assert "servable" in run.summary["tasks"], engine
        assert run.summary["gates"] == reference["gates"], engine
        assert run.summary["promoted"] == {"challenger": "1"}, engine
        assert registry(run.state) == (["1"], {"challenger": "1"}), engine


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
