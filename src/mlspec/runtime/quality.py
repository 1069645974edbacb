"""Model quality on labelled feedback: served predictions against the labels that came back.

Runtime module: generated pipelines carry it as a file of its own, so it uses the standard
library only. Rows whose prediction or label is null are left out (and counted). Classes compare
by value, not by how a file spells them: 1, 1.0, "1", True and "true" are one class (a CSV file
holds text, a Parquet file typed values). Precision, recall and f1 are about the `positive`
class; a metric with nothing to divide by (no predicted positives for precision, no actual ones
for recall) is not a number, and a requirement on it then fails closed. mae and rmse need numbers
on both sides.
"""

from __future__ import annotations

import math

METRICS = ("accuracy", "precision", "recall", "f1", "mae", "rmse")


def class_key(value: object) -> object:
    """The class a value stands for: numbers (and booleans, and their text) as floats."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return float(text.lower() == "true")
    try:
        return float(text)
    except ValueError:
        return text


def labelled_pairs(predictions: list, labels: list) -> tuple[list[tuple[object, object]], int]:
    """(prediction, label) of every row with both; and how many rows were left out."""
    pairs = [
        (p, y) for p, y in zip(predictions, labels, strict=True) if p is not None and y is not None
    ]
    return pairs, len(predictions) - len(pairs)


def measure(metric: str, pairs: list[tuple[object, object]], positive: object) -> float:
    """One metric over (prediction, label) pairs; NaN when it is undefined on them. Raises
    ValueError for mae/rmse on a value that is not a number."""
    if metric in ("mae", "rmse"):
        errors = [_number(p) - _number(y) for p, y in pairs]
        if metric == "mae":
            return sum(abs(e) for e in errors) / len(errors)
        return math.sqrt(sum(e * e for e in errors) / len(errors))
    keys = [(class_key(p), class_key(y)) for p, y in pairs]
    if metric == "accuracy":
        return sum(1 for p, y in keys if p == y) / len(keys)
    target = class_key(positive)
    true_pos = sum(1 for p, y in keys if p == target and y == target)
    predicted = sum(1 for p, _ in keys if p == target)
    actual = sum(1 for _, y in keys if y == target)
    precision = true_pos / predicted if predicted else math.nan
    recall = true_pos / actual if actual else math.nan
    if metric == "precision":
        return precision
    if metric == "recall":
        return recall
    if metric == "f1":
        if math.isnan(precision) or math.isnan(recall):
            return math.nan
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")


def _number(value: object) -> float:
    number = class_key(value)
    if not isinstance(number, float) or not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number
