"""What a serving side logs, for monitor tests: inputs like the training data or drifted from
it, and labelled feedback with a chosen share of wrong answers. All from scikit-learn's
breast-cancer data (the flagship's), written as the flagship's ingest writes it."""

from __future__ import annotations

import csv
import os
from pathlib import Path


def _rows() -> tuple[list[str], list[list[float | int]]]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in bunch.feature_names] + ["target"]
    rows = [[*map(float, x), int(y)] for x, y in zip(bunch.data, bunch.target, strict=True)]
    return columns, rows


def _write(path: Path, columns: list[str], rows: list[list]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return str(path)


def training_data(path: Path) -> str:
    """Every even row: what a version learned from (its registry.reference)."""
    columns, rows = _rows()
    return _write(path, columns, rows[::2])


def served_inputs(folder: Path, *, drifted: bool, name: str = "inputs-0001.csv") -> str:
    """Every odd row, without the label (a server is sent features): like the training data,
    or with mean_texture and worst_area shifted far beyond it."""
    columns, rows = _rows()
    features = columns[:-1]
    texture, area = features.index("mean_texture"), features.index("worst_area")
    served = []
    for row in rows[1::2]:
        values = list(row[:-1])
        if drifted:
            values[texture] *= 1.8
            values[area] *= 2.5
        served.append(values)
    return _write(folder / name, features, served)


def feedback(folder: Path, *, wrong_share: float, name: str = "feedback-0001.csv") -> str:
    """Predictions and the labels that came back: `wrong_share` of the answers wrong."""
    _, rows = _rows()
    labels = [int(r[-1]) for r in rows[1::2]]
    wrong_every = round(1 / wrong_share) if wrong_share else 0
    out = []
    for i, label in enumerate(labels):
        wrong = wrong_every and i % wrong_every == 0
        out.append([1 - label if wrong else label, label])
    return _write(folder / name, ["prediction", "target"], out)


def age(path: str, seconds: float) -> None:
    """Make a logged file look `seconds` old (outside a monitor's window)."""
    stat = Path(path).stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))
