"""Runtime fixtures: a small real model to register (the registry fixtures are in tests/)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest


@pytest.fixture
def model_path(tmp_path: Path) -> str:
    from sklearn.dummy import DummyClassifier

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(DummyClassifier().fit([[0], [1]], [0, 1])))
    return str(path)
