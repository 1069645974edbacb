"""Steps of the breast-cancer pipeline, written to mlspec's calling convention.

Each function receives its inputs by keyword: parameters and upstream scalars as values,
artifacts as local file paths; it receives a writable path for each artifact output and returns
a dict of its scalar outputs. Heavy imports sit inside the functions, so that importing
the module to call one step stays cheap.
"""

from __future__ import annotations


def ingest(test_fraction: float, seed: int, train: str, test: str, reference: str) -> dict:
    """Split scikit-learn's bundled dataset; the reference half stands in for last run's data."""
    import csv

    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    bunch = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in bunch.feature_names] + ["target"]
    rows = [[*map(float, x), int(y)] for x, y in zip(bunch.data, bunch.target, strict=True)]
    rest, test_rows = train_test_split(
        rows, test_size=test_fraction, random_state=seed, stratify=[r[-1] for r in rows]
    )
    train_rows, reference_rows = train_test_split(
        rest, test_size=0.3, random_state=seed, stratify=[r[-1] for r in rest]
    )
    for path, part in ((train, train_rows), (test, test_rows), (reference, reference_rows)):
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(part)
    return {}


def _read(path: str) -> tuple[list[list[float]], list[int]]:
    import csv

    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [[float(v) for v in row] for row in reader]
    return [r[:-1] for r in rows], [int(r[-1]) for r in rows]


def train(train: str, n_estimators: int, max_depth: int, seed: int, model: str) -> dict:
    import pickle

    from sklearn.ensemble import RandomForestClassifier

    features, labels = _read(train)
    forest = RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=1
    )
    forest.fit(features, labels)
    with open(model, "wb") as handle:
        pickle.dump(forest, handle)
    return {}


def evaluate(model: str, test: str, report: str) -> dict:
    import json
    import pickle

    from sklearn.metrics import accuracy_score, roc_auc_score

    with open(model, "rb") as handle:
        forest = pickle.load(handle)
    features, labels = _read(test)
    auc = float(roc_auc_score(labels, forest.predict_proba(features)[:, 1]))
    accuracy = float(accuracy_score(labels, forest.predict(features)))
    with open(report, "w") as handle:
        json.dump({"auc": auc, "accuracy": accuracy, "n_test": len(labels)}, handle, indent=2)
    return {"auc": auc, "accuracy": accuracy}
