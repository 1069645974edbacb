"""Steps of tests/support/specs/fanout.yaml: a per-region fan-out and its fan-in, standard
library only, so that every engine's environment runs them."""

from __future__ import annotations

import csv
from pathlib import Path

SIZES = {"eu": 12, "us": 20, "apac": 8}


def make(region: str, scale: int, table: str) -> dict:
    """One region's rows: region, amount."""
    rows = [(region, i * scale) for i in range(SIZES[region])]
    with Path(table).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region", "amount"])
        writer.writerows(rows)
    return {"rows": len(rows)}


def features(region: str, raw: str, table: str) -> dict:
    """The same element's table (checked by its region column), amounts doubled."""
    with Path(raw).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["region"] == region for r in rows), f"{region} read another region's table"
    with Path(table).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region", "amount"])
        writer.writerows((r["region"], 2 * int(r["amount"])) for r in rows)
    return {}


def combine(tables: list[str], rows: list[int], table: str, model: str) -> dict:
    """The fan-in: every region's table (a list of paths) and row count (a list of ints)."""
    assert isinstance(tables, list) and isinstance(rows, list), (tables, rows)
    with Path(table).open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["region", "amount"])
        for path in tables:
            with Path(path).open(newline="") as handle:
                writer.writerows((r["region"], r["amount"]) for r in csv.DictReader(handle))
    with Path(model).open("w", encoding="utf-8") as handle:
        handle.write(",".join(map(str, rows)))
    return {"regions": len(tables), "total": float(sum(rows))}


def score(weight: float, table: str) -> dict:
    """One weight's score of the combined table: its amounts summed, times the weight."""
    assert isinstance(weight, float), weight
    with Path(table).open(newline="") as handle:
        total = sum(int(r["amount"]) for r in csv.DictReader(handle))
    return {"score": weight * total}


def pick(scores: list[float]) -> dict:
    """The fan-in of a written list: one score per weight, in the list's order."""
    assert isinstance(scores, list) and len(scores) == 2 and scores[0] < scores[1], scores
    return {"best": max(scores)}
