"""Data-gate checks: load a dataset and run a gate's checks on it, failing closed.

Runtime module: generated pipelines carry it as a file of its own, so it uses the standard library
only (plus pyarrow, imported when a Parquet file is read).

Tables. `load_table` returns column name -> values. The content decides the format, not the
name (step outputs have none): a file that starts and ends with the bytes PAR1 is Parquet,
anything else CSV (but a file named .parquet or .pq that is not Parquet is refused). A CSV file
keeps its raw strings, an empty field becoming None; a Parquet file gives Python objects.
None is null everywhere. A CSV row with more or fewer fields than the header, or a duplicate
column name, makes the file unreadable.

Values. A number is an int or float (not a bool) or a string that `float()` parses (no `_`
separators); NaN is a number that no numeric check accepts. Types for `columns`: `int` is an
integer (a string of digits with an optional sign), `float` any number (ints count), `bool`
true/false/0/1 in any case (or a Python bool, or the ints 0 and 1), `str` anything. Nulls are
ignored by the type, range, categories and drift checks and counted by `null_fraction`, which
also counts NaN as missing (float NaN, or a CSV string such as "nan").

Failing closed. Every check fails, with a detail saying why and `measured` None, on a missing
column, an empty dataset (0 rows; this includes `row_count`), a column with no non-null values
(range, categories, drift), a non-numeric value or NaN where a number is needed, an unreadable
dataset or reference file, or a malformed check. `run_data_gate` never raises. Bounds are
inclusive. A gate passes only if it has at least one check and every check passes.

Columns. null_fraction, range, categories and drift name a `column`, or a `pattern` instead: a
Python regular expression applied with re.search (so "^feat_" matches names starting feat_).
A pattern check runs once per column it matches, in the dataset's column order, each with its
own result (subject = the column). For drift the reference's matching columns count too, so a
matching column missing from the dataset fails. A pattern that matches no column fails the
check (subject /pattern/), as does one that does not compile. (A spec's list of `columns` is
lowered by the compiler to one check per column.)

Categories compare as strings for CSV: "1" matches 1, "true"/"True" match True. Parquet values
compare by type: numbers numerically (1.0 matches 1), bools only with bools, strings with the
string form of an allowed value.

Drift compares the column of the dataset with the same column of a reference file (`reference`
is the file's path; or a key of `references`, which maps it to a path). Nulls are dropped first.

PSI (population stability index), numeric columns (every non-null reference value a number):
  - Edges are equal-frequency quantiles of the sorted reference values r[0..n-1]: the cut
    points r[k*n // bins] for k = 1..bins-1, deduplicated, minus any equal to the reference
    minimum (so every bin holds at least one reference value).
  - With cuts c1 < ... < cm the bins are (-inf, c1), [c1, c2), ..., [cm, +inf): a value equal
    to a cut goes to the upper bin, and values outside the reference's range go to the first or
    last bin.
  - A constant reference (no cut left) gives two bins, "== the constant" and "!= it": PSI is 0
    when the current column is that constant everywhere and grows with the share that is not.
  - Each bin's proportion (actual a = current, expected e = reference) is floored at 1e-4,
    then PSI = sum((a - e) * ln(a / e)).
Categorical columns (some non-null reference value is not a number) use the categories seen in
either dataset as the bins, with the same floor and formula.

KS: the two-sample Kolmogorov-Smirnov statistic D = max |F_ref(x) - F_cur(x)| over all x,
computed exactly by merging the sorted samples and stepping past every copy of a tied value in
both samples before comparing. Numeric columns only.
"""

from __future__ import annotations

import bisect
import csv
import math
import os
import re
from collections import Counter
from decimal import Decimal

from .report import CheckResult, GateReport, number_text

_EPSILON = 1e-4  # floor of a bin's proportion in PSI: an empty bin must not give ln(0)
_TYPES = ("int", "float", "str", "bool")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_BOOL_TEXT = frozenset({"true", "false", "0", "1"})
_EXAMPLES = 5  # offending values named in a detail
_PARQUET_MAGIC = b"PAR1"  # the first and last 4 bytes of every Parquet file


class _Unreadable(ValueError):
    """A table file that cannot be read; the message names the format it was read as."""


class _Fail(Exception):
    """A check that cannot pass: its message is the CheckResult's detail."""


# ---- reading tables -----------------------------------------------------------------------


def load_table(path: str) -> dict[str, list]:
    """Column name -> values (None is null). Raises OSError, ImportError or _Unreadable."""
    kind = _format(path)
    try:
        return _read_parquet(path) if kind == "Parquet" else _read_csv(path)
    except ImportError:
        raise
    except Exception as exc:
        raise _Unreadable(f"not readable as {kind}: {_error(exc)}") from exc


def _format(path: str) -> str:
    """The format by content, as step outputs have no file extension: Parquet when the file
    starts and ends with Parquet's magic bytes, else CSV."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    if head == _PARQUET_MAGIC and tail == _PARQUET_MAGIC and size >= 12:
        return "Parquet"
    if path.lower().endswith((".parquet", ".pq")):  # a broken file must not be read as text
        raise _Unreadable("named like Parquet, but not a Parquet file (no PAR1 magic bytes)")
    return "CSV"


def _read_csv(path: str) -> dict[str, list]:
    # utf-8-sig: a spreadsheet's byte-order mark must not end up in the first column's name.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        names = next(reader, [])
        _no_duplicates(names, path)
        table: dict[str, list] = {name: [] for name in names}
        for row in reader:
            if not row:  # a blank line, which csv.DictReader skips too
                continue
            if len(row) != len(names):
                raise ValueError(
                    f"{path}, line {reader.line_num}: the row does not have the header's "
                    f"{len(names)} fields"
                )
            for name, value in zip(names, row, strict=True):
                table[name].append(None if value == "" else value)
    return table


def _read_parquet(path: str) -> dict[str, list]:
    try:  # lazily: only Parquet needs it, and the CSV path must work without it
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            f"reading the Parquet file {path} needs pyarrow, which is not installed "
            "(pip install pyarrow)"
        ) from exc
    data = pq.read_table(path)
    names = list(data.column_names)
    _no_duplicates(names, path)
    return {name: data.column(i).to_pylist() for i, name in enumerate(names)}


def _no_duplicates(names: list[str], path: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:  # one of them would silently shadow the other
        raise ValueError(f"{path}: duplicate column names {repeated}")


def _row_count(table: dict[str, list]) -> int:
    return max((len(values) for values in table.values()), default=0)


# ---- values -------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """The value as a float, or None if it is not a number. Bools are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        try:
            return float(value)
        except (OverflowError, ValueError):  # a huge int, a signalling Decimal NaN
            return None
    if isinstance(value, str) and "_" not in value:  # float() would accept "1_000"
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _is_nan(value: object) -> bool:
    number = _number(value)
    return number is not None and math.isnan(number)


def _conforms(value: object, type_name: str) -> bool:
    if type_name == "str":
        return True
    if isinstance(value, str):
        text = value.strip()
        if type_name == "int":
            return _INT_TEXT.fullmatch(text) is not None
        if type_name == "bool":
            return text.lower() in _BOOL_TEXT
        return _number(text) is not None
    if type_name == "bool":  # mirrors the CSV rule, where 0 and 1 are booleans
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if isinstance(value, bool):
        return False
    if type_name == "int":
        return isinstance(value, int)
    return _number(value) is not None


def _show(values: list) -> str:
    """The first few distinct values, for a detail."""
    shown: list[str] = []
    for value in values:
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        if text not in shown:
            shown.append(text)
        if len(shown) == _EXAMPLES:
            break
    more = ", ..." if len(set(map(repr, values))) > len(shown) else ""
    return ", ".join(shown) + more


def _values(values: list, what: str) -> list:
    """The non-null values; fails the check when there are none."""
    present = [v for v in values if v is not None]
    if not present:
        raise _Fail(f"{what} has no non-null values")
    return present


def _numbers(values: list, what: str) -> list[float]:
    """The non-null values as floats; fails the check on a non-numeric value or NaN."""
    numbers: list[float] = []
    bad: list = []
    nans = 0
    for value in _values(values, what):
        number = _number(value)
        if number is None:
            bad.append(value)
        elif math.isnan(number):
            nans += 1
        else:
            numbers.append(number)
    if bad:
        raise _Fail(f"{what}: {len(bad)} non-numeric values, e.g. {_show(bad)}")
    if nans:
        raise _Fail(f"{what}: {nans} NaN values")
    return numbers


# ---- check fields and thresholds ------------------------------------------------------------


def _bound(check: dict, key: str) -> float | None:
    value = check.get(key)
    if value is None:
        return None
    number = None if isinstance(value, str) else _number(value)
    if number is None or math.isnan(number):
        raise _Fail(f"invalid check: {key} must be a number, not {value!r}")
    return number


def _bounds(check: dict) -> tuple[float | None, float | None]:
    low, high = _bound(check, "min"), _bound(check, "max")
    if low is None and high is None:
        raise _Fail("invalid check: it needs min or max")
    return low, high


def _text(check: dict, key: str) -> str:
    value = check.get(key)
    if not isinstance(value, str) or not value:
        raise _Fail(f"invalid check: {key} must be a non-empty string, not {value!r}")
    return value


def _interval(low: float | None, high: float | None) -> str:
    if low is None:
        return f"<= {number_text(high)}" if high is not None else "any value"
    if high is None:
        return f">= {number_text(low)}"
    return f"in [{number_text(low)}, {number_text(high)}]"


def _within(value: float, low: float | None, high: float | None) -> bool:
    # Written as "is inside" so that a NaN anywhere fails rather than passes.
    return (low is None or value >= low) and (high is None or value <= high)


def _bins(check: dict) -> int:
    bins = check.get("bins")
    if bins is None:
        return 10
    if type(bins) is not int or bins < 2:
        raise _Fail(f"invalid check: bins must be an integer >= 2, not {bins!r}")
    return bins


def _describe(check: dict, dataset: str) -> tuple[str, str]:
    """The subject and threshold of a check; raises _Fail if the check is malformed."""
    kind = check.get("kind")
    if kind == "row_count":
        return dataset, _interval(*_bounds(check))
    if kind == "columns":
        return ", ".join(_column_types(check)), "== 0 missing or mistyped"
    if kind == "null_fraction":
        return _subject(check), f"<= {number_text(_max(check))}"
    if kind == "range":
        return _subject(check), _interval(*_bounds(check))
    if kind == "categories":
        allowed = ", ".join(_fmt_category(a) for a in _allowed(check))
        return _subject(check), f"in {{{allowed}}}"
    if kind == "drift":
        method, limit = _method(check), number_text(_max(check))
        extra = f", {_bins(check)} bins" if method == "psi" else ""
        return _subject(check), f"<= {limit} ({method}{extra})"
    raise _Fail(f"invalid check: unknown kind {kind!r}")


def _subject(check: dict) -> str:
    """The column a check looks at, or /pattern/ for a check of every column it matches."""
    if check.get("pattern") is None:
        return _text(check, "column")
    if check.get("column") is not None:
        raise _Fail("invalid check: it has both column and pattern")
    return f"/{_pattern(check).pattern}/"


def _pattern(check: dict) -> re.Pattern[str]:
    text = _text(check, "pattern")
    try:
        return re.compile(text)
    except re.error as exc:
        raise _Fail(f"invalid check: the pattern {text!r} does not compile: {exc}") from None


def _matching(check: dict, table: dict[str, list], refs: _References) -> list[str]:
    """The columns a pattern check judges, in the dataset's order; for drift then the
    reference's that the dataset lacks (each fails: a feature gone is drift too)."""
    pattern, names, where = _pattern(check), list(table), "the dataset"
    if check.get("kind") == "drift":
        names += [n for n in refs.load(refs.path(check.get("reference"))) if n not in table]
        where = "the dataset or the reference"
    matched = [name for name in names if pattern.search(name)]
    if not matched:  # fail closed: a renamed feature must not turn the check into no check
        listed = f"its columns: {_show(names)}" if names else "it has no columns"
        raise _Fail(f"no column of {where} matches the pattern {pattern.pattern!r} ({listed})")
    return matched


def _max(check: dict) -> float:
    limit = _bound(check, "max")
    if limit is None:
        raise _Fail("invalid check: max is required")
    return limit


def _method(check: dict) -> str:
    method = check.get("method")
    if method not in ("psi", "ks"):
        raise _Fail(f"invalid check: method must be psi or ks, not {method!r}")
    return str(method)


def _column_types(check: dict) -> dict[str, str]:
    columns = check.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise _Fail("invalid check: columns must map column names to types")
    for name, type_name in columns.items():
        if type_name not in _TYPES:
            raise _Fail(f"invalid check: column {name!r} has unknown type {type_name!r}")
    return columns


def _allowed(check: dict) -> list:
    allowed = check.get("allowed")
    if not isinstance(allowed, list | tuple) or not allowed:
        raise _Fail("invalid check: allowed must be a non-empty list")
    for item in allowed:
        if not isinstance(item, str | int | float):
            raise _Fail(f"invalid check: allowed value {item!r} is not a scalar")
    return list(allowed)


def _fmt_category(item: object) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float):
        return number_text(item)
    return repr(item) if isinstance(item, str) else str(item)


# ---- the checks: each returns (measured, passed, detail) or raises _Fail --------------------


def _column(table: dict[str, list], name: str, where: str = "the dataset") -> list:
    if _row_count(table) == 0:
        raise _Fail(f"{where} is empty (0 rows)")
    if name not in table:
        raise _Fail(f"column {name!r} is missing from {where}")
    return table[name]


def _check_row_count(check: dict, table: dict[str, list], _refs: object) -> tuple:
    low, high = _bounds(check)
    rows = _row_count(table)
    if rows == 0:  # fail closed: no gate lets an empty dataset through
        raise _Fail("the dataset is empty (0 rows)")
    return rows, _within(rows, low, high), f"{rows} rows"


def _check_columns(check: dict, table: dict[str, list], _refs: object) -> tuple:
    wanted = _column_types(check)
    if _row_count(table) == 0:
        raise _Fail("the dataset is empty (0 rows)")
    missing = [name for name in wanted if name not in table]
    problems = [f"missing: {', '.join(missing)}"] if missing else []
    mistyped = 0
    for name, type_name in wanted.items():
        if name in missing:
            continue
        bad = [v for v in table[name] if v is not None and not _conforms(v, type_name)]
        if bad:
            mistyped += len(bad)
            problems.append(f"{name}: {len(bad)} values not {type_name}, e.g. {_show(bad)}")
    measured = len(missing) + mistyped
    return measured, measured == 0, "; ".join(problems)


def _check_null_fraction(check: dict, table: dict[str, list], _refs: object) -> tuple:
    limit = _max(check)
    values = _column(table, _text(check, "column"))
    nulls = sum(1 for v in values if v is None)
    nans = sum(1 for v in values if v is not None and _is_nan(v))
    fraction = (nulls + nans) / len(values)
    detail = f"{nulls + nans} of {len(values)} values null" + (f" ({nans} NaN)" if nans else "")
    return fraction, fraction <= limit, detail


def _check_range(check: dict, table: dict[str, list], _refs: object) -> tuple:
    low, high = _bounds(check)
    column = _text(check, "column")
    numbers = _numbers(_column(table, column), f"column {column!r}")
    smallest, largest = min(numbers), max(numbers)
    passed = _within(smallest, low, high) and _within(largest, low, high)
    # Report the end that broke a bound, else the end a bound watches.
    if low is not None and not _within(smallest, low, None):
        measured = smallest
    elif high is not None and not _within(largest, None, high):
        measured = largest
    else:
        measured = smallest if low is not None else largest
    return measured, passed, f"observed [{number_text(smallest)}, {number_text(largest)}]"


def _check_categories(check: dict, table: dict[str, list], _refs: object) -> tuple:
    allowed = _allowed(check)
    column = _text(check, "column")
    values = _values(_column(table, column), f"column {column!r}")
    keys = _category_keys(allowed)
    outside = Counter(v for v in values if not _category_match(v, keys))
    count = sum(outside.values())
    if not count:
        return 0, True, ""
    shown = [f"{value!r} x{n}" for value, n in outside.most_common(_EXAMPLES)]
    more = ", ..." if len(outside) > _EXAMPLES else ""
    return count, False, f"{count} values outside the set: {', '.join(shown)}{more}"


def _category_keys(allowed: list) -> set[tuple]:
    keys: set[tuple] = set()
    for item in allowed:
        if isinstance(item, bool):
            keys.add(("bool", item))
        else:
            keys.add(("str", item if isinstance(item, str) else _fmt_category(item)))
            if not isinstance(item, str):
                keys.add(("num", float(item)))
    return keys


def _category_match(value: object, keys: set[tuple]) -> bool:
    if isinstance(value, bool):
        return ("bool", value) in keys
    if isinstance(value, str):  # CSV, or a Parquet string column: compare as text
        word = value.strip().lower()
        as_bool = ("bool", word == "true") if word in ("true", "false") else None
        return ("str", value) in keys or as_bool in keys
    number = _number(value)
    return number is not None and ("num", number) in keys


def _check_drift(check: dict, table: dict[str, list], refs: _References) -> tuple:
    column, method, limit = _text(check, "column"), _method(check), _max(check)
    bins = _bins(check)
    path = refs.path(check.get("reference"))
    current = _column(table, column)
    reference = _column(refs.load(path), column, f"the reference {path}")
    if method == "ks":
        ref_numbers = _numbers(reference, f"reference column {column!r}")
        cur_numbers = _numbers(current, f"column {column!r}")
        statistic = _ks(ref_numbers, cur_numbers)
        detail = f"D over {len(ref_numbers)} reference and {len(cur_numbers)} current values"
    else:
        statistic, detail = _psi(reference, current, column, bins)
    return statistic, statistic <= limit, detail


class _References:
    """Reference files of drift checks, each read once per gate."""

    def __init__(self, references: dict[str, str] | None) -> None:
        self.names = dict(references or {})
        self.tables: dict[str, dict[str, list] | str] = {}

    def path(self, reference: object) -> str:
        if not isinstance(reference, str) or not reference:
            raise _Fail(f"invalid check: reference must be a path, not {reference!r}")
        return self.names.get(reference, reference)

    def load(self, path: str) -> dict[str, list]:
        if path not in self.tables:
            try:
                self.tables[path] = load_table(path)
            except Exception as exc:  # any reason a file cannot be read blocks the gate
                self.tables[path] = f"cannot read the reference {path}: {_error(exc)}"
        loaded = self.tables[path]
        if isinstance(loaded, str):
            raise _Fail(loaded)
        return loaded


# ---- drift statistics ---------------------------------------------------------------------


def _psi(reference: list, current: list, column: str, bins: int) -> tuple[float, str]:
    ref_values = _values(reference, f"reference column {column!r}")
    if all(_number(v) is not None for v in ref_values):
        ref_numbers = _numbers(ref_values, f"reference column {column!r}")
        return _psi_numeric(ref_numbers, _numbers(current, f"column {column!r}"), bins)
    cur_values = _values(current, f"column {column!r}")
    return _psi_categorical(ref_values, cur_values)


def _psi_numeric(reference: list[float], current: list[float], bins: int) -> tuple[float, str]:
    ordered = sorted(reference)
    n = len(ordered)
    cuts = sorted({ordered[k * n // bins] for k in range(1, bins)} - {ordered[0]})
    if not cuts:  # constant reference: one quantile bin would hide any change
        same = sum(1 for x in current if x == ordered[0])
        actual = [same / len(current), 1 - same / len(current)]
        detail = f"constant reference {number_text(ordered[0])}: bins == and != it"
        return _psi_sum([1.0, 0.0], actual), detail
    expected = _proportions([bisect.bisect_right(cuts, x) for x in ordered], len(cuts) + 1)
    actual = _proportions([bisect.bisect_right(cuts, x) for x in current], len(cuts) + 1)
    detail = f"{len(cuts) + 1} quantile bins of {n} reference values, {len(current)} current"
    return _psi_sum(expected, actual), detail


def _proportions(indexes: list[int], size: int) -> list[float]:
    counts = [0] * size
    for i in indexes:
        counts[i] += 1
    return [c / len(indexes) for c in counts]


def _psi_categorical(reference: list, current: list) -> tuple[float, str]:
    ref_counts = Counter(_category_name(v) for v in reference)
    cur_counts = Counter(_category_name(v) for v in current)
    categories = sorted(set(ref_counts) | set(cur_counts))  # a fixed order: a stable float sum
    expected = [ref_counts[c] / len(reference) for c in categories]
    actual = [cur_counts[c] / len(current) for c in categories]
    detail = f"{len(categories)} categories as bins"
    return _psi_sum(expected, actual), detail


def _category_name(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _psi_sum(expected: list[float], actual: list[float]) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _EPSILON), max(a, _EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def _ks(first: list[float], second: list[float]) -> float:
    """Exact two-sample KS statistic: walk the merged samples one distinct value at a time."""
    x, y = sorted(first), sorted(second)
    n, m = len(x), len(y)
    i = j = 0
    widest = 0  # in units of 1 / (n * m): integers keep the comparison exact
    while i < n and j < m:
        value = min(x[i], y[j])
        while i < n and x[i] == value:  # ties: both CDFs jump before they are compared
            i += 1
        while j < m and y[j] == value:
            j += 1
        widest = max(widest, abs(i * m - j * n))
    # Once one sample is used up its CDF is 1 and the gap only narrows.
    return widest / (n * m)


# ---- the gate -----------------------------------------------------------------------------

_CHECKS = {
    "row_count": _check_row_count,
    "columns": _check_columns,
    "null_fraction": _check_null_fraction,
    "range": _check_range,
    "categories": _check_categories,
    "drift": _check_drift,
}


def _error(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, _Unreadable) else f"{type(exc).__name__}: {exc}"


def _run_check(
    check: object, table: dict[str, list] | None, problem: str, refs: _References, name: str
) -> list[CheckResult]:
    """The check's result; a pattern check's, one per column it matches."""
    kind = str(check.get("kind")) if isinstance(check, dict) else "invalid"
    subject, threshold = name, "?"
    try:
        if not isinstance(check, dict):
            raise _Fail(f"invalid check: {check!r} is not a mapping")
        subject, threshold = _describe(check, name)
        if table is None:
            raise _Fail(problem)
        if kind in ("row_count", "columns") or check.get("pattern") is None:
            return [_judge(kind, check, subject, threshold, table, refs)]
        return [
            _judge(
                kind, {**check, "pattern": None, "column": column}, column, threshold, table, refs
            )
            for column in _matching(check, table, refs)
        ]
    except Exception as exc:
        return [_failed(kind, subject, threshold, exc)]


def _judge(
    kind: str, check: dict, subject: str, threshold: str, table: dict[str, list], refs: _References
) -> CheckResult:
    try:
        measured, passed, detail = _CHECKS[kind](check, table, refs)
    except Exception as exc:
        return _failed(kind, subject, threshold, exc)
    return CheckResult(kind, subject, float(measured), threshold, bool(passed), detail)


def _failed(kind: str, subject: str, threshold: str, exc: Exception) -> CheckResult:
    """A check that could not pass; any other error (a bug, an odd value) blocks the gate
    rather than crash the run."""
    detail = str(exc) if isinstance(exc, _Fail) else f"error: {_error(exc)}"
    return CheckResult(kind, subject, None, threshold, False, detail)


def run_data_gate(
    gate: str, dataset_path: str, checks: list[dict], references: dict[str, str] | None = None
) -> GateReport:
    """Run every check on the dataset; never raises. See the module docstring for the rules."""
    table: dict[str, list] | None = None
    problem = ""
    try:
        table = load_table(dataset_path)
    except Exception as exc:  # fail closed on whatever makes the file unreadable
        problem = f"cannot read the dataset {dataset_path}: {_error(exc)}"
    name = os.path.basename(dataset_path) or dataset_path
    return run_checks(gate, name, table, checks, references, problem)


def run_checks(
    gate: str,
    name: str,
    table: dict[str, list] | None,
    checks: list[dict],
    references: dict[str, str] | None = None,
    problem: str = "",
) -> GateReport:
    """Run every check on a loaded table (None: unreadable, for `problem`); never raises."""
    refs = _References(references)
    results = [r for c in checks for r in _run_check(c, table, problem, refs, name)]
    reason = problem or ("" if results else "the gate has no checks")
    passed = bool(results) and all(r.passed for r in results)
    return GateReport(gate=gate, kind="data", passed=passed, checks=results, reason=reason)
