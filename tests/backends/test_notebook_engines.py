"""A notebook step runs on all three engines via `mlspec run`, with identical outputs.

specs/valid/notebook.yaml: one notebook writes a CSV, the other reads it and computes its mean;
a parameter full of quotes, braces and `$(...)` travels into the notebooks as text. Each engine
runs the notebooks with nbclient and ipykernel where its tasks run: Prefect in the flow run,
kfp's SubprocessRunner in a scratch virtualenv that installs the component's pins, Airflow's
dag.test() in the Airflow test environment (tests/airflow/requirements.txt has the pins).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from support import airflow_env
from support.engines import mlspec_run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "valid" / "notebook.yaml"
LABEL = "it's \"quoted\" ''' \\ {x} ${y}\n$(id)"  # the spec's default, as YAML reads it
ENGINES = ("prefect", "kubeflow", "airflow")
# The executed notebook: a file of its own on Airflow and Prefect, an output artifact on KFP.
EXECUTED = ("notebook.ipynb", "mlspec_executed_notebook")


@pytest.fixture(scope="module")
def notebook_run(
    tmp_path_factory: pytest.TempPathFactory, prefect_api: str
) -> Callable[[str], Path]:
    """engine -> the artifacts folder of the spec's passing run on it (run once per module)."""
    done: dict[str, Path] = {}

    def run(engine: str) -> Path:
        if engine not in done:
            state = tmp_path_factory.mktemp(f"notebook-{engine}") / "run state"
            args: tuple[str, ...] = () if engine == "prefect" else ("--target", engine)
            if engine == "airflow":
                args += ("--airflow-python", str(airflow_env.environment()))
            code, summary, output = mlspec_run(
                state, str(SPEC), *args, server=prefect_api if engine == "prefect" else None
            )
            assert code == 0 and summary is not None, output[-6000:]
            assert summary["outcome"] == "passed", summary
            steps = {k: v for k, v in summary["tasks"].items() if not k.startswith("mlspec_")}
            assert list(steps) == ["prepare", "score"], summary
            done[engine] = Path(summary["run_folder"]) / "artifacts"
        return done[engine]

    return run


def _one(folder: Path, step: str, names: tuple[str, ...]) -> Path:
    [found] = [p for name in names for p in folder.rglob(f"{step}/{name}")]
    return found


def outputs(artifacts: Path) -> dict[str, object]:
    """What the run made: the rows, the summary, and from each executed notebook its injected
    cell and what its cells printed."""
    made: dict[str, object] = {
        "rows": _one(artifacts, "prepare", ("rows",)).read_bytes().decode(),
        "summary": _one(artifacts, "score", ("summary",)).read_text(),
    }
    for step in ("prepare", "score"):
        executed = nbformat.read(_one(artifacts, step, EXECUTED), as_version=4)
        nbformat.validate(executed)
        [injected] = [
            c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", ())
        ]
        printed = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
        # artifact paths differ by engine and run; the values do not
        lines = [line.partition(" = ")[::2] for line in injected.source.splitlines()[1:]]
        made[step] = {
            "values": {k: v for k, v in lines if "/" not in v},
            "printed": printed,
        }
    return made


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_notebook_step_runs_and_its_executed_notebook_is_kept(
    notebook_run: Callable[[str], Path], engine: str
) -> None:
    made = outputs(notebook_run(engine))
    assert made["rows"] == "id,score\r\n0,0.0\r\n1,0.1\r\n2,0.2\r\n3,0.3\r\n4,0.4\r\n"
    assert made["summary"] == f"{LABEL}\n0.2\n"
    assert made["score"] == {
        "values": {"threshold": "0.1", "label": repr(LABEL)},
        "printed": [f"{LABEL}: mean 0.2 over 5 rows\n"],
    }
    if engine == "kubeflow":  # the scalar outputs read back, as the engine passed them on
        executor = json.loads(
            _one(notebook_run(engine), "score", ("executor_output.json",)).read_text()
        )
        assert executor["parameterValues"] == {
            "mean": 0.2,
            "count": 5,
            "passed": True,
            "echoed": LABEL,
        }


@pytest.mark.slow
def test_every_engine_gives_the_same_outputs(notebook_run: Callable[[str], Path]) -> None:
    reference, *others = (outputs(notebook_run(e)) for e in ENGINES)
    assert all(other == reference for other in others)
