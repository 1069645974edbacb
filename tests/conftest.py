"""Fixtures for every test: a real MLflow model registry on SQLite, copied from a template."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.locks import once

from mlspec.runtime import registry

# Fixtures of tests/support: the bandit controller's `rig` (tests/bandit, tests/security) and
# the flagship's engine runs (tests/backends).
pytest_plugins = ("support.bandit", "support.engines")


@pytest.fixture(scope="session")
def mlflow_env() -> Iterator[None]:
    """No telemetry, no tracking server from the environment, MLflow's HTTP settings unset."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("DO_NOT_TRACK", "true")
        for name in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_REGISTRY_URI",
            *registry._HTTP_LIMITS,
        ):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def template_db(mlflow_env: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated registry database per test run, shared by the parallel workers; migrating a
    fresh one costs seconds, a copy does not. Tests copy it (`uri`), never write to it."""

    def migrate(folder: Path) -> str:
        from mlflow import MlflowClient

        path = folder / "template.db"
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_registered_models()  # migrations
        return str(path)

    return Path(once(tmp_path_factory, "mlflow-template", migrate))


@pytest.fixture
def uri(template_db: Path, tmp_path: Path) -> str:
    copy = tmp_path / "registry.db"
    shutil.copyfile(template_db, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="session")
def create_model(mlflow_env: None) -> Callable[[str, str], None]:
    """Creates an empty registered model: how an operator starts a model's first run (a gate
    does not take a registered model that does not exist for one). Call it with (uri, name)."""
    from mlflow import MlflowClient

    def create(uri: str, name: str) -> None:
        MlflowClient(tracking_uri=uri, registry_uri=uri).create_registered_model(name)

    return create


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that start an engine or a server first, then the others, most tests first. Under
    pytest-xdist (`--dist loadfile --no-loadscope-reorder`, README) each file runs on one worker
    (its module fixtures, its order) and files start in this order, the longest ones first, so
    that the workers end together."""
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)

    def order(path: Path) -> tuple[bool, int]:
        tests = files[path]
        return (not any(t.get_closest_marker("slow") for t in tests), -len(tests))

    items[:] = [item for path in sorted(files, key=order) for item in files[path]]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (README): one worker more than there are cores. The engine and server tests
    spend much of their time waiting (a server starting, a scheduler's next parse, a deployed
    run), which the extra worker fills with other files' work. PYTEST_XDIST_AUTO_NUM_WORKERS,
    when set, decides (pytest-xdist's own hook reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return len(os.sched_getaffinity(0)) + 1
