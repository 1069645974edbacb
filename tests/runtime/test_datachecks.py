"""Data-gate checks: every kind at its boundaries, fail-closed cases, Parquet, the flagship data.

Expected drift values are computed by hand (no scipy in the runtime or the tests).
"""

from __future__ import annotations

import ast
import csv
import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlspec.backends.runtime_args import data_check_args
from mlspec.compiler.ir import OutputRef
from mlspec.runtime.datachecks import load_table, run_data_gate
from mlspec.runtime.report import CheckResult, GateReport, gate_report_from_json

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "src" / "mlspec" / "runtime" / "datachecks.py"
EXAMPLE = ROOT / "examples" / "breast-cancer"
EPS = 1e-4


def write_csv(path: Path, columns: dict[str, list]) -> str:
    """Write columns (values as given; None becomes an empty field) to a CSV file."""
    names = list(columns)
    rows = zip(*(columns[n] for n in names), strict=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return str(path)


def one(tmp_path: Path, columns: dict[str, list], check: dict, **kw: object) -> CheckResult:
    """Run a single check on a CSV written from `columns`."""
    report = run_data_gate("g", write_csv(tmp_path / "data.csv", columns), [check], **kw)
    assert len(report.checks) == 1
    assert report.passed is report.checks[0].passed
    return report.checks[0]


def drift(reference: str, method: str, limit: float, bins: int | None = None) -> dict:
    check = {"kind": "drift", "column": "x", "reference": reference, "method": method}
    check["max"] = limit
    if bins is not None:
        check["bins"] = bins
    return check


def drift_on(tmp_path: Path, ref: list, cur: list, check: dict) -> CheckResult:
    ref_path = write_csv(tmp_path / "ref.csv", {"x": ref})
    check = {**check, "reference": ref_path}
    return one(tmp_path, {"x": cur}, check)


# ---- loading ------------------------------------------------------------------------------


def test_csv_keeps_raw_strings_and_empty_is_null(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", {"a": ["1", "", "x"], "b": ["2.50", "true", None]})
    assert load_table(path) == {"a": ["1", None, "x"], "b": ["2.50", "true", None]}


def test_csv_header_only_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b\n")
    (tmp_path / "e.csv").write_text("")
    assert load_table(str(tmp_path / "h.csv")) == {"a": [], "b": []}
    assert load_table(str(tmp_path / "e.csv")) == {}


def test_csv_byte_order_mark_is_not_part_of_a_name(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_text("a,b\n1,2\n", encoding="utf-8-sig")
    assert load_table(str(tmp_path / "bom.csv")) == {"a": ["1"], "b": ["2"]}


@pytest.mark.parametrize("text", ["a,b\n1,2\n3\n", "a,b\n1,2\n3,4,5\n", "a,a\n1,2\n"])
def test_malformed_csv_fails_every_check(tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError):
        load_table(str(tmp_path / "bad.csv"))
    checks = [{"kind": "row_count", "min": 1}, {"kind": "null_fraction", "column": "a", "max": 1}]
    report = run_data_gate("g", str(tmp_path / "bad.csv"), checks)
    assert not report.passed
    assert report.reason.startswith(f"cannot read the dataset {tmp_path / 'bad.csv'}")
    assert [c.passed for c in report.checks] == [False, False]
    assert all(c.measured is None and "cannot read" in c.detail for c in report.checks)


def test_unreadable_dataset_fails_closed_without_raising(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    report = run_data_gate("dq", missing, [{"kind": "row_count", "min": 1}])
    assert isinstance(report, GateReport)
    assert (report.gate, report.kind, report.passed) == ("dq", "data", False)
    assert "FileNotFoundError" in report.reason
    (check,) = report.checks
    assert (check.check, check.measured, check.threshold, check.passed) == (
        "row_count",
        None,
        ">= 1",
        False,
    )
    assert "FileNotFoundError" in check.detail


def test_undecodable_csv_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"a\n\xff\xfe\n")
    report = run_data_gate("g", str(tmp_path / "latin.csv"), [{"kind": "row_count", "min": 1}])
    assert not report.passed
    assert "UnicodeDecodeError" in report.checks[0].detail


# ---- row_count ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "threshold", "passed"),
    [
        ({"min": 3}, ">= 3", True),  # equal to the bound: inclusive
        ({"min": 4}, ">= 4", False),
        ({"max": 3}, "<= 3", True),
        ({"max": 2.5}, "<= 2.5", False),
        ({"min": 3, "max": 3}, "in [3, 3]", True),
        ({"min": 1.0, "max": 2}, "in [1, 2]", False),
    ],
)
def test_row_count(tmp_path: Path, bounds: dict, threshold: str, passed: bool) -> None:
    result = one(tmp_path, {"a": ["1", "2", "3"]}, {"kind": "row_count", **bounds})
    assert (result.check, result.subject) == ("row_count", "data.csv")
    assert (result.measured, result.threshold, result.passed) == (3, threshold, passed)


def test_row_count_fails_on_an_empty_dataset_even_within_bounds(tmp_path: Path) -> None:
    result = one(tmp_path, {"a": []}, {"kind": "row_count", "max": 10})
    assert not result.passed
    assert result.measured is None
    assert "empty" in result.detail


def test_row_count_needs_a_bound(tmp_path: Path) -> None:
    result = one(tmp_path, {"a": ["1"]}, {"kind": "row_count", "min": None, "max": None})
    assert not result.passed
    assert "invalid check" in result.detail


# ---- columns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "good", "bad"),
    [
        ("int", ["0", "-12", "+7", " 3 ", "007"], ["1.0", "1e3", "x", "1_000", "nan", "true"]),
        ("float", ["0", "-1.5", "1e-3", "nan", "inf", " 2.5"], ["x", "1_0.5", "true", "1,5"]),
        ("bool", ["true", "False", "TRUE", "0", "1"], ["yes", "2", "t", "1.0"]),
        ("str", ["", "x", "1", "true"], []),
    ],
)
def test_columns_types_in_csv(tmp_path: Path, type_name: str, good: list, bad: list) -> None:
    check = {"kind": "columns", "columns": {"c": type_name}}
    values = [v for v in good if v != ""] + [None]  # nulls are ignored by type checks
    ok = one(tmp_path, {"c": values}, check)
    assert (ok.measured, ok.passed, ok.threshold) == (0, True, "== 0 missing or mistyped")
    if bad:
        result = one(tmp_path, {"c": values + bad}, check)
        assert (result.measured, result.passed) == (len(bad), False)
        assert f"c: {len(bad)} values not {type_name}" in result.detail


def test_columns_counts_missing_columns_and_bad_values(tmp_path: Path) -> None:
    check = {"kind": "columns", "columns": {"a": "int", "b": "float", "gone": "str"}}
    result = one(tmp_path, {"a": ["1", "x", "2.5"], "b": ["1", "2", "y"]}, check)
    assert result.subject == "a, b, gone"
    assert (result.measured, result.passed) == (4, False)  # 1 missing, 2 not int, 1 not float
    assert "missing: gone" in result.detail
    assert "a: 2 values not int, e.g. 'x', '2.5'" in result.detail
    assert "b: 1 values not float, e.g. 'y'" in result.detail


def test_columns_detail_names_the_first_few_values(tmp_path: Path) -> None:
    check = {"kind": "columns", "columns": {"a": "int"}}
    result = one(tmp_path, {"a": [f"v{i}" for i in range(9)]}, check)
    assert result.measured == 9
    assert result.detail == "a: 9 values not int, e.g. 'v0', 'v1', 'v2', 'v3', 'v4', ..."


def test_columns_fails_on_an_empty_dataset(tmp_path: Path) -> None:
    result = one(tmp_path, {"a": []}, {"kind": "columns", "columns": {"a": "int"}})
    assert (result.measured, result.passed) == (None, False)
    assert "empty" in result.detail


def test_columns_rejects_an_unknown_type(tmp_path: Path) -> None:
    result = one(tmp_path, {"a": ["1"]}, {"kind": "columns", "columns": {"a": "decimal"}})
    assert not result.passed
    assert "unknown type 'decimal'" in result.detail


# ---- null_fraction ------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "passed"), [(0.25, True), (0.24, False), (1, True)])
def test_null_fraction_bound_is_inclusive(tmp_path: Path, limit: float, passed: bool) -> None:
    check = {"kind": "null_fraction", "column": "a", "max": limit}
    result = one(tmp_path, {"a": ["1", None, "2", "3"]}, check)
    assert (result.subject, result.measured, result.passed) == ("a", 0.25, passed)
    assert result.threshold == f"<= {limit}"
    assert result.detail == "1 of 4 values null"


def test_null_fraction_counts_nan_as_missing(tmp_path: Path) -> None:
    check = {"kind": "null_fraction", "column": "a", "max": 0.0}
    result = one(tmp_path, {"a": ["1", "nan", None, "NaN"]}, check)
    assert (result.measured, result.passed) == (0.75, False)
    assert result.detail == "3 of 4 values null (2 NaN)"


def test_null_fraction_zero_nulls_passes_a_zero_bound(tmp_path: Path) -> None:
    check = {"kind": "null_fraction", "column": "a", "max": 0}
    result = one(tmp_path, {"a": ["1", "x"]}, check)
    assert (result.measured, result.passed, result.threshold) == (0, True, "<= 0")


@pytest.mark.parametrize(
    ("columns", "why"),
    [({"b": ["1"]}, "column 'a' is missing from the dataset"), ({"a": []}, "empty (0 rows)")],
)
def test_null_fraction_missing_column_or_empty(tmp_path: Path, columns: dict, why: str) -> None:
    result = one(tmp_path, columns, {"kind": "null_fraction", "column": "a", "max": 1})
    assert (result.measured, result.passed) == (None, False)
    assert why in result.detail


# ---- range --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "measured", "passed"),
    [
        ({"min": 5, "max": 35}, 5, True),  # both ends exactly on the bounds
        ({"min": 5}, 5, True),
        ({"max": 35}, 35, True),
        ({"min": 5.5, "max": 35}, 5, False),  # the end that broke the bound
        ({"min": 5, "max": 34.9}, 35, False),
        ({"max": 30}, 35, False),
    ],
)
def test_range(tmp_path: Path, bounds: dict, measured: float, passed: bool) -> None:
    result = one(
        tmp_path, {"a": ["5", "20.5", None, "35.0"]}, {"kind": "range", "column": "a", **bounds}
    )
    assert (result.measured, result.passed) == (measured, passed)
    assert result.detail == "observed [5, 35]"


def test_range_threshold_strings(tmp_path: Path) -> None:
    data = {"a": ["1"]}
    for bounds, text in [({"min": 5, "max": 35}, "in [5, 35]"), ({"min": 0.5}, ">= 0.5")]:
        assert one(tmp_path, data, {"kind": "range", "column": "a", **bounds}).threshold == text


@pytest.mark.parametrize(
    ("values", "why"),
    [
        (["1", "abc", "2"], "column 'a': 1 non-numeric values, e.g. 'abc'"),
        (["1", "nan", "2"], "column 'a': 1 NaN values"),
        ([None, None], "column 'a' has no non-null values"),
        ([], "the dataset is empty (0 rows)"),
    ],
)
def test_range_fails_closed(tmp_path: Path, values: list, why: str) -> None:
    result = one(tmp_path, {"a": values}, {"kind": "range", "column": "a", "min": 0})
    assert (result.measured, result.passed, result.detail) == (None, False, why)


def test_range_missing_column(tmp_path: Path) -> None:
    result = one(tmp_path, {"b": ["1"]}, {"kind": "range", "column": "a", "max": 1})
    assert (result.passed, result.detail) == (False, "column 'a' is missing from the dataset")


# ---- categories ---------------------------------------------------------------------------


def test_categories_compare_as_strings_in_csv(tmp_path: Path) -> None:
    check = {"kind": "categories", "column": "t", "allowed": [0, 1]}
    result = one(tmp_path, {"t": ["0", "1", None, "1"]}, check)
    assert (result.measured, result.passed, result.threshold) == (0, True, "in {0, 1}")
    result = one(tmp_path, {"t": ["0", "2", "1.0", "2", "x"]}, check)
    assert (result.measured, result.passed) == (4, False)
    assert result.detail == "4 values outside the set: '2' x2, '1.0' x1, 'x' x1"


def test_categories_strings_and_bools(tmp_path: Path) -> None:
    check = {"kind": "categories", "column": "c", "allowed": ["card", "cash", True]}
    result = one(tmp_path, {"c": ["card", "True", "true", "cash", "Card", "false"]}, check)
    assert result.threshold == "in {'card', 'cash', true}"
    assert (result.measured, result.passed) == (2, False)
    assert "'Card' x1, 'false' x1" in result.detail


def test_categories_detail_is_capped(tmp_path: Path) -> None:
    check = {"kind": "categories", "column": "c", "allowed": ["a"]}
    result = one(tmp_path, {"c": [str(i) for i in range(8)]}, check)
    assert result.measured == 8
    assert result.detail.endswith("'4' x1, ...")


@pytest.mark.parametrize(
    ("values", "why"),
    [([None], "column 'c' has no non-null values"), ([], "the dataset is empty (0 rows)")],
)
def test_categories_fails_closed(tmp_path: Path, values: list, why: str) -> None:
    result = one(tmp_path, {"c": values}, {"kind": "categories", "column": "c", "allowed": [1]})
    assert (result.measured, result.passed, result.detail) == (None, False, why)


# ---- drift: PSI ---------------------------------------------------------------------------


def test_psi_by_hand(tmp_path: Path) -> None:
    # Reference 1..4 with 2 bins: the cut is r[1*4//2] = r[2] = 3, so bins (-inf, 3) and
    # [3, inf) hold e = (0.5, 0.5); the current 1, 1, 1, 4 gives a = (0.75, 0.25).
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert expected == pytest.approx(0.2746530721670274, abs=1e-15)
    check = drift("", "psi", 0.3, bins=2)
    result = drift_on(tmp_path, ["1", "2", "3", "4"], ["1", "1", "1", "4"], check)
    assert result.measured == pytest.approx(expected, rel=1e-12)
    assert (result.passed, result.threshold) == (True, "<= 0.3 (psi, 2 bins)")
    assert result.detail == "2 quantile bins of 4 reference values, 4 current"


def test_psi_equal_to_the_threshold_passes(tmp_path: Path) -> None:
    ref, cur = ["1", "2", "3", "4"], ["1", "1", "1", "4"]
    measured = drift_on(tmp_path, ref, cur, drift("", "psi", 1.0, bins=2)).measured
    assert measured is not None
    assert drift_on(tmp_path, ref, cur, drift("", "psi", measured, bins=2)).passed
    assert not drift_on(tmp_path, ref, cur, drift("", "psi", measured * 0.999, bins=2)).passed


def test_psi_values_outside_the_reference_go_to_the_end_bins(tmp_path: Path) -> None:
    # Same cut (3) as above: -100 and 0 land in the first bin, 50 and 100 in the last.
    result = drift_on(
        tmp_path, ["1", "2", "3", "4"], ["-100", "0", "50", "100"], drift("", "psi", 0.1, 2)
    )
    assert result.measured == 0.0
    assert result.passed


def test_psi_empty_bin_is_floored_at_epsilon(tmp_path: Path) -> None:
    # Current all below the cut: a = (1, 0 -> 1e-4) against e = (0.5, 0.5).
    expected = (1 - 0.5) * math.log(1 / 0.5) + (EPS - 0.5) * math.log(EPS / 0.5)
    result = drift_on(tmp_path, ["1", "2", "3", "4"], ["1", "1"], drift("", "psi", 10, bins=2))
    assert result.measured == pytest.approx(expected, rel=1e-12)


def test_psi_identical_distributions_give_zero(tmp_path: Path) -> None:
    values = [str(v) for v in range(100)]
    result = drift_on(tmp_path, values, list(reversed(values)), drift("", "psi", 0.2))
    assert (result.measured, result.passed) == (0.0, True)
    assert result.threshold == "<= 0.2 (psi, 10 bins)"  # bins default to 10
    assert result.detail.startswith("10 quantile bins")


def test_psi_deduplicates_edges(tmp_path: Path) -> None:
    # Cuts r[k*10//10] for k = 1..9 are five 0s and four 1s -> {0, 1}; the 0 equals the
    # minimum and goes, leaving one cut: bins (-inf, 1) and [1, inf), e = (0.6, 0.4).
    ref = ["0"] * 6 + ["1"] * 4
    cur = ["0"] * 3 + ["1"] * 7
    expected = (0.3 - 0.6) * math.log(0.3 / 0.6) + (0.7 - 0.4) * math.log(0.7 / 0.4)
    result = drift_on(tmp_path, ref, cur, drift("", "psi", 1))
    assert result.measured == pytest.approx(expected, rel=1e-12)
    assert result.detail.startswith("2 quantile bins")


def test_psi_constant_reference(tmp_path: Path) -> None:
    check = drift("", "psi", 0.2)
    same = drift_on(tmp_path, ["5"] * 4, ["5", "5.0", "5"], check)
    assert (same.measured, same.passed) == (0.0, True)
    assert same.detail == "constant reference 5: bins == and != it"
    # Two bins (== 5, != 5): e = (1, 0 -> eps), a = (0.75, 0.25).
    expected = (0.75 - 1) * math.log(0.75) + (0.25 - EPS) * math.log(0.25 / EPS)
    changed = drift_on(tmp_path, ["5"] * 4, ["5", "5", "5", "6"], check)
    assert changed.measured == pytest.approx(expected, rel=1e-12)
    assert not changed.passed


def test_psi_categorical_by_hand(tmp_path: Path) -> None:
    # Bins a, b, c: e = (0.5, 0.5, 0 -> eps), a = (0.75, 0 -> eps, 0.25).
    expected = (
        (0.75 - 0.5) * math.log(0.75 / 0.5)
        + (EPS - 0.5) * math.log(EPS / 0.5)
        + (0.25 - EPS) * math.log(0.25 / EPS)
    )
    result = drift_on(
        tmp_path, ["a", "a", "b", "b", None], ["a", "a", "a", "c"], drift("", "psi", 20)
    )
    assert result.measured == pytest.approx(expected, rel=1e-12)
    assert (result.passed, result.detail) == (True, "3 categories as bins")


@pytest.mark.parametrize(
    ("ref", "cur", "why"),
    [
        (["1", "2"], ["1", "x"], "column 'x': 1 non-numeric values, e.g. 'x'"),
        (["1", "2"], ["1", "nan"], "column 'x': 1 NaN values"),
        (["1", "nan"], ["1", "2"], "reference column 'x': 1 NaN values"),
        ([None, None], ["1", "2"], "reference column 'x' has no non-null values"),
        (["1", "2"], [None, None], "column 'x' has no non-null values"),
    ],
)
def test_psi_fails_closed(tmp_path: Path, ref: list, cur: list, why: str) -> None:
    result = drift_on(tmp_path, ref, cur, drift("", "psi", 0.2))
    assert (result.measured, result.passed, result.detail) == (None, False, why)


# ---- drift: KS ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "cur", "statistic"),
    [
        # F_ref - F_cur at 1, 2, 3, 4, 5, 6: .25, .5, .5, .5, .25, 0 -> D = 1/2.
        ([1, 2, 3, 4], [3, 4, 5, 6], 0.5),
        # Ties: at 1 both CDFs jump together (2/3 vs 1/3), at 2 both reach 1 -> D = 1/3.
        # Stepping one element at a time would report 2/3.
        ([1, 1, 2], [1, 2, 2], 1 / 3),
        # Unequal sizes: at 2, F_ref = 2/3 and F_cur = 0 -> D = 2/3.
        ([1, 2, 3], [2.5], 2 / 3),
        ([5, 5, 5], [5, 5], 0.0),  # constant and equal
        ([5, 5, 5], [6, 6], 1.0),  # constant and different
        ([0, 1], [1, 0], 0.0),
    ],
)
def test_ks_by_hand(tmp_path: Path, ref: list, cur: list, statistic: float) -> None:
    result = drift_on(tmp_path, ref, cur, drift("", "ks", 1.0))
    assert result.measured == pytest.approx(statistic, abs=1e-15)
    assert result.passed
    assert result.threshold == "<= 1 (ks)"
    swapped = drift_on(tmp_path, cur, ref, drift("", "ks", 1.0))
    assert swapped.measured == result.measured  # symmetric


def test_ks_equal_to_the_threshold_passes(tmp_path: Path) -> None:
    ref, cur = ["1", "2", "3", "4"], ["3", "4", "5", "6"]
    assert drift_on(tmp_path, ref, cur, drift("", "ks", 0.5)).passed
    assert not drift_on(tmp_path, ref, cur, drift("", "ks", 0.49)).passed


@pytest.mark.parametrize(
    ("ref", "cur", "why"),
    [
        (["a", "b"], ["a", "b"], "reference column 'x': 2 non-numeric values, e.g. 'a', 'b'"),
        (["1", "2"], ["1", "nan"], "column 'x': 1 NaN values"),
        (["1", "2"], [None], "column 'x' has no non-null values"),
    ],
)
def test_ks_fails_closed(tmp_path: Path, ref: list, cur: list, why: str) -> None:
    result = drift_on(tmp_path, ref, cur, drift("", "ks", 0.5))
    assert (result.measured, result.passed, result.detail) == (None, False, why)


# ---- drift: references --------------------------------------------------------------------


def test_drift_reference_name_maps_through_references(tmp_path: Path) -> None:
    ref_path = write_csv(tmp_path / "ref.csv", {"x": ["1", "2"]})
    check = drift("ingest.reference", "ks", 0.1)
    result = one(tmp_path, {"x": ["1", "2"]}, check, references={"ingest.reference": ref_path})
    assert (result.measured, result.passed) == (0.0, True)


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_drift_fails_closed_on_reference_problems(tmp_path: Path, method: str) -> None:
    other = write_csv(tmp_path / "other.csv", {"y": ["1"]})
    empty = write_csv(tmp_path / "empty.csv", {"x": []})
    cases = [
        (str(tmp_path / "nope.csv"), "cannot read the reference"),
        (other, f"column 'x' is missing from the reference {other}"),
        (empty, f"the reference {empty} is empty (0 rows)"),
    ]
    for path, why in cases:
        result = one(tmp_path, {"x": ["1", "2"]}, drift(path, method, 0.5))
        assert (result.measured, result.passed) == (None, False)
        assert why in result.detail


def test_drift_missing_column_in_the_dataset(tmp_path: Path) -> None:
    ref_path = write_csv(tmp_path / "ref.csv", {"x": ["1"]})
    result = one(tmp_path, {"y": ["1"]}, drift(ref_path, "psi", 0.5))
    assert (result.passed, result.detail) == (False, "column 'x' is missing from the dataset")


# ---- the gate -----------------------------------------------------------------------------


def test_gate_passes_only_if_every_check_passes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", {"a": ["1", "2"]})
    good = {"kind": "row_count", "min": 2}
    bad = {"kind": "range", "column": "a", "max": 1}
    assert run_data_gate("g", path, [good]).passed
    report = run_data_gate("g", path, [good, bad])
    assert not report.passed
    assert [c.passed for c in report.checks] == [True, False]
    assert report.reason == ""
    assert gate_report_from_json(report.to_json()) == report


def test_gate_without_checks_fails(tmp_path: Path) -> None:
    report = run_data_gate("g", write_csv(tmp_path / "d.csv", {"a": ["1"]}), [])
    assert (report.passed, report.reason) == (False, "the gate has no checks")


@pytest.mark.parametrize(
    ("check", "why"),
    [
        ({"kind": "median", "column": "a"}, "invalid check: unknown kind 'median'"),
        ("row_count", "invalid check: 'row_count' is not a mapping"),
        ({"kind": "range", "column": "a", "min": "5"}, "invalid check: min must be a number"),
        ({"kind": "range", "column": "a", "min": math.nan}, "invalid check: min must be a number"),
        ({"kind": "null_fraction", "column": "a"}, "invalid check: max is required"),
        ({"kind": "range", "min": 0}, "invalid check: column must be a non-empty string"),
        ({"kind": "categories", "column": "a", "allowed": []}, "invalid check: allowed must"),
        ({"kind": "drift", "column": "a", "method": "chi2", "max": 1}, "method must be psi or ks"),
        (
            {"kind": "drift", "column": "a", "method": "psi", "max": 1, "bins": 1},
            "bins must be an integer >= 2",
        ),
        ({"kind": "drift", "column": "a", "method": "ks", "max": 1}, "reference must be a path"),
    ],
)
def test_malformed_checks_fail_closed(tmp_path: Path, check: object, why: str) -> None:
    report = run_data_gate("g", write_csv(tmp_path / "d.csv", {"a": ["1"]}), [check])
    assert not report.passed
    (result,) = report.checks
    assert (result.measured, result.passed) == (None, False)
    assert result.detail.startswith(why) or why in result.detail


# ---- Parquet ------------------------------------------------------------------------------


def write_parquet(path: Path, columns: dict[str, list]) -> str:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(columns), str(path))
    return str(path)


PARQUET_DATA = {
    "i": [1, 2, None, 4],
    "f": [1.5, 2.0, 3.25, None],
    "s": ["a", "b", None, "a"],
    "b": [True, False, True, None],
}


def test_parquet_values_are_python_objects(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet", PARQUET_DATA)
    assert load_table(path) == PARQUET_DATA
    pq_path = write_parquet(tmp_path / "t.pq", {"x": [1]})
    assert load_table(pq_path) == {"x": [1]}


def test_parquet_checks(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet", PARQUET_DATA)
    ref = write_parquet(tmp_path / "ref.parquet", {"f": [1.5, 2.0, 3.25, 3.5], "s": ["a", "b"] * 2})
    checks = [
        {"kind": "row_count", "min": 4, "max": 4},
        {"kind": "columns", "columns": {"i": "int", "f": "float", "s": "str", "b": "bool"}},
        {"kind": "columns", "columns": {"f": "int", "i": "float", "b": "int", "s": "float"}},
        {"kind": "null_fraction", "column": "i", "max": 0.25},
        {"kind": "range", "column": "f", "min": 1.5, "max": 3.25},
        {"kind": "range", "column": "b", "min": 0},
        {"kind": "categories", "column": "i", "allowed": [1.0, 2, 4]},
        {"kind": "categories", "column": "b", "allowed": [0, 1]},
        {"kind": "categories", "column": "b", "allowed": [True, False]},
        {"kind": "drift", "column": "f", "reference": ref, "method": "ks", "max": 0.25},
        {"kind": "drift", "column": "s", "reference": ref, "method": "psi", "max": 0.1},
    ]
    report = run_data_gate("pq", path, checks)
    got = [(c.check, c.measured, c.passed) for c in report.checks]
    # KS: F_ref - F_cur at 1.5, 2, 3.25, 3.5 is 1/4 - 1/3, 1/2 - 2/3, 3/4 - 1, 0 -> D = 1/4.
    # PSI over a, b: e = (0.5, 0.5), a = (2/3, 1/3).
    psi = (2 / 3 - 0.5) * math.log((2 / 3) / 0.5) + (1 / 3 - 0.5) * math.log((1 / 3) / 0.5)
    assert got == [
        ("row_count", 4, True),
        ("columns", 0, True),
        ("columns", 9, False),  # floats are not ints, bools are not numbers, "a" is no float
        ("null_fraction", 0.25, True),
        ("range", 1.5, True),
        ("range", None, False),  # bools are not numbers
        ("categories", 0, True),  # numbers compare numerically: 1 matches 1.0
        ("categories", 3, False),  # bools are not the ints 0 and 1
        ("categories", 0, True),
        ("drift", 0.25, True),
        ("drift", pytest.approx(psi, rel=1e-12), False),
    ]
    assert report.checks[5].detail == "column 'b': 3 non-numeric values, e.g. True, False"


def test_parquet_nan_is_not_null_but_fails_numeric_checks(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "n.parquet", {"x": [1.0, math.nan, None, 2.0]})
    checks = [
        {"kind": "null_fraction", "column": "x", "max": 0.5},
        {"kind": "columns", "columns": {"x": "float"}},
        {"kind": "range", "column": "x", "min": 0},
    ]
    report = run_data_gate("pq", path, checks)
    assert [(c.measured, c.passed) for c in report.checks] == [
        (0.5, True),
        (0, True),
        (None, False),
    ]
    assert report.checks[2].detail == "column 'x': 1 NaN values"


def test_parquet_empty_table(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    path = write_parquet(tmp_path / "e.parquet", {"x": pa.array([], type=pa.float64())})
    report = run_data_gate("pq", path, [{"kind": "row_count", "max": 5}])
    assert not report.passed
    assert report.checks[0].detail == "the dataset is empty (0 rows)"


def test_parquet_is_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    # Step outputs have no extension: a Parquet dataset was read as CSV (UnicodeDecodeError).
    path = write_parquet(tmp_path / "train", PARQUET_DATA)
    assert load_table(path) == PARQUET_DATA
    report = run_data_gate("pq", path, [{"kind": "row_count", "min": 4}])
    assert report.passed, report.reason


def test_a_read_error_names_the_format(tmp_path: Path) -> None:
    broken = tmp_path / "broken"  # Parquet's magic bytes around garbage
    broken.write_bytes(b"PAR1" + b"\x00" * 16 + b"PAR1")
    report = run_data_gate("pq", str(broken), [{"kind": "row_count", "min": 1}])
    assert report.reason.startswith(f"cannot read the dataset {broken}: not readable as Parquet: ")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00a,b\n")
    report = run_data_gate("csv", str(binary), [{"kind": "row_count", "min": 1}])
    assert report.reason.startswith(
        f"cannot read the dataset {binary}: not readable as CSV: UnicodeDecodeError: "
    )
    named = write_csv(tmp_path / "t.parquet", {"x": ["1"]})  # a name is no reason to read it so
    report = run_data_gate("csv", named, [{"kind": "row_count", "min": 1}])
    assert report.reason == (
        f"cannot read the dataset {named}: named like Parquet, but not a Parquet file "
        "(no PAR1 magic bytes)"
    )


def test_missing_pyarrow_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_parquet(tmp_path / "t.parquet", {"x": [1]})
    csv_path = write_csv(tmp_path / "t.csv", {"x": ["1"]})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"needs pyarrow, which is not installed"):
        load_table(path)
    report = run_data_gate("pq", path, [{"kind": "row_count", "min": 1}])
    assert not report.passed
    assert "needs pyarrow" in report.reason
    assert "pip install pyarrow" in report.checks[0].detail
    assert run_data_gate("csv", csv_path, [{"kind": "row_count", "min": 1}]).passed


# ---- the flagship example's real data -------------------------------------------------------


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The example's ingest output and its data_quality gate, as runtime check dicts."""
    from mlspec.compiler import analyze_file

    sys.path.insert(0, str(EXAMPLE))
    try:
        from breast_cancer.steps import ingest
    finally:
        sys.path.remove(str(EXAMPLE))
    pipeline = analyze_file(EXAMPLE / "pipeline.yaml").pipeline
    params = {p.name: p.default for p in pipeline.params}
    folder = tmp_path_factory.mktemp("flagship")
    paths = {name: str(folder / f"{name}.csv") for name in ("train", "test", "reference")}
    ingest(test_fraction=params["test_fraction"], seed=params["seed"], **paths)
    gate = pipeline.gate("data_quality")
    assert gate.dataset == OutputRef("ingest", "train")
    outputs = {OutputRef("ingest", name): path for name, path in paths.items()}
    checks = [data_check_args(c, params, outputs) for c in gate.checks]
    return {"paths": paths, "checks": checks, "folder": folder}


def verdicts(report: GateReport) -> dict[str, bool]:
    """Check -> passed; row_count's subject is the file name, which the corrupted copies change."""
    return {
        c.check if c.check == "row_count" else f"{c.check}:{c.subject}": c.passed
        for c in report.checks
    }


FLAGSHIP_CHECKS = [
    "row_count",
    "columns:mean_radius, mean_texture, worst_area, target",
    "null_fraction:mean_radius",
    "range:mean_radius",
    "categories:target",
    "drift:mean_texture",
    "drift:worst_area",
]


def test_flagship_checks_translate(flagship: dict) -> None:
    ref = flagship["paths"]["reference"]
    assert flagship["checks"] == [
        {"kind": "row_count", "min": 250.0, "max": None},
        {
            "kind": "columns",
            "columns": {
                "mean_radius": "float",
                "mean_texture": "float",
                "worst_area": "float",
                "target": "int",
            },
        },
        {"kind": "null_fraction", "column": "mean_radius", "max": 0.0},
        {"kind": "range", "column": "mean_radius", "min": 5.0, "max": 35.0},
        {"kind": "categories", "column": "target", "allowed": [0, 1]},
        {
            "kind": "drift",
            "column": "mean_texture",
            "max": 0.2,
            "reference": ref,
            "method": "psi",
            "bins": 10,
        },
        {"kind": "drift", "column": "worst_area", "max": 0.15, "reference": ref, "method": "ks"},
    ]


def run_flagship(flagship: dict, dataset: str) -> GateReport:
    report = run_data_gate("data_quality", dataset, flagship["checks"])
    assert list(verdicts(report)) == FLAGSHIP_CHECKS
    return report


def test_flagship_gate_passes_on_the_real_data(flagship: dict) -> None:
    report = run_flagship(flagship, flagship["paths"]["train"])
    assert report.passed, [c for c in report.checks if not c.passed]
    by_name = {f"{c.check}:{c.subject}": c for c in report.checks}
    assert by_name["row_count:train.csv"].measured == 298
    by_name = {f"{c.check}:{c.subject}": c for c in report.checks}
    assert by_name["drift:mean_texture"].measured < 0.2
    assert by_name["drift:worst_area"].measured < 0.15


def corrupt(flagship: dict, name: str, change: Callable[[dict], dict]) -> str:
    """A copy of the training CSV with `change(row)` applied to every row dict."""
    with Path(flagship["paths"]["train"]).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows = [change(dict(row)) for row in rows]
    path = flagship["folder"] / f"{name}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def assert_only_these_flip(flagship: dict, corrupted: str, failing: set[str]) -> GateReport:
    """The corrupted copy fails exactly `failing` besides what the clean data already fails."""
    baseline = verdicts(run_flagship(flagship, flagship["paths"]["train"]))
    assert failing <= {name for name, ok in baseline.items() if ok}
    report = run_flagship(flagship, corrupted)
    assert verdicts(report) == {name: ok and name not in failing for name, ok in baseline.items()}
    assert not report.passed
    return report


def test_flagship_nulls_fail_null_fraction_only(flagship: dict) -> None:
    counter = iter(range(10**6))

    def blank(row: dict) -> dict:
        if next(counter) % 50 == 0:
            row["mean_radius"] = ""
        return row

    report = assert_only_these_flip(
        flagship, corrupt(flagship, "nulls", blank), {"null_fraction:mean_radius"}
    )
    result = next(c for c in report.checks if c.check == "null_fraction")
    assert result.measured == pytest.approx(6 / 298)  # rows 0, 50, ..., 250


def test_flagship_dropped_column_fails_columns_and_categories(flagship: dict) -> None:
    def drop(row: dict) -> dict:
        del row["target"]
        return row

    report = assert_only_these_flip(
        flagship,
        corrupt(flagship, "dropped", drop),
        {"columns:mean_radius, mean_texture, worst_area, target", "categories:target"},
    )
    columns = next(c for c in report.checks if c.check == "columns")
    assert (columns.measured, columns.detail) == (1, "missing: target")


def test_flagship_shifted_texture_fails_psi_only(flagship: dict) -> None:
    def shift(row: dict) -> dict:
        row["mean_texture"] = repr(float(row["mean_texture"]) + 8)
        return row

    report = assert_only_these_flip(
        flagship, corrupt(flagship, "shifted", shift), {"drift:mean_texture"}
    )
    psi = next(c for c in report.checks if c.subject == "mean_texture")
    assert psi.measured > 1.0


def test_flagship_scaled_area_fails_ks_only(flagship: dict) -> None:
    def scale(row: dict) -> dict:
        row["worst_area"] = repr(float(row["worst_area"]) * 1.5)
        return row

    report = assert_only_these_flip(
        flagship, corrupt(flagship, "scaled", scale), {"drift:worst_area"}
    )
    ks = next(c for c in report.checks if c.subject == "worst_area")
    assert ks.measured > 0.3


# ---- embeddability ------------------------------------------------------------------------


def test_imports_are_standard_library_pyarrow_and_report_only() -> None:
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "pyarrow", alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:  # the runtime package's own modules: report only
                assert node.module == "report"
                assert sorted(a.name for a in node.names) == [
                    "CheckResult",
                    "GateReport",
                    "number_text",
                ]
                assert all(a.asname is None for a in node.names)
            else:
                assert node.level == 0 and node.module is not None
                assert node.module.split(".")[0] in sys.stdlib_module_names, node.module


def test_pyarrow_is_imported_lazily_inside_a_function() -> None:
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert not [ast.unparse(n) for n in top_level if "pyarrow" in ast.unparse(n)]
    assert "import pyarrow.parquet as pq" in ast.unparse(tree)


def test_its_public_names_are_load_table_run_data_gate_and_run_checks() -> None:
    names = {
        n.name
        for n in ast.parse(MODULE.read_text(encoding="utf-8")).body
        if isinstance(n, ast.FunctionDef | ast.ClassDef)
    }
    assert {n for n in names if not n.startswith("_")} == {
        "load_table",
        "run_data_gate",
        "run_checks",
    }
