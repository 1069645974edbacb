"""Where `mlspec run` keeps what a local run makes: artifacts, a SQLite registry, engine state.

<state>/                     the folder the command names (default .mlspec/run/<pipeline>; a
                             monitor's: its watched pipeline's, whose registry it judges)
  registry.db                the MLflow registry, kept across runs (champions persist)
  engines/<engine>/          engine state: Prefect's database, Airflow's home, kfp's venv
  runs/<n>-<engine>/         one folder per run: the compiled pipeline, its log, artifacts
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlspec.compiler import ir


@dataclass(frozen=True)
class RunState:
    folder: Path
    run_folder: Path

    @property
    def artifacts(self) -> Path:
        return self.run_folder / "artifacts"

    @property
    def registry_uri(self) -> str:
        return f"sqlite:///{self.folder / 'registry.db'}"

    def engine_folder(self, engine: str) -> Path:
        path = self.folder / "engines" / engine
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def log(self) -> Path:
        return self.run_folder / "engine.log"


def default_folder(pipeline: ir.Pipeline) -> Path:
    """`.mlspec/run/<name>`; a monitor's is the watched pipeline's, whose runs filled the
    registry the monitor judges."""
    name = pipeline.monitor.model.pipeline if pipeline.monitor is not None else pipeline.name
    return Path(".mlspec") / "run" / name


def new_run(folder: Path, engine: str) -> RunState:
    """A fresh run folder under `folder`, numbered after the runs before it."""
    runs = folder.resolve() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name.split("-")[0]) for p in runs.iterdir() if p.name.split("-")[0].isdigit()]
    run_folder = runs / f"{max(taken, default=0) + 1:04d}-{engine}"
    (run_folder / "artifacts").mkdir(parents=True)
    return RunState(folder.resolve(), run_folder)
