"""Multi-column data checks (issue #23 item 2): a list of columns or a pattern, one result per
column, on real CSV and Parquet files, through the compiler's own runtime arguments."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support import kfp_ir, serving
from support.engines import FLAGSHIP, mlspec_run

from mlspec.api import compile_pipeline
from mlspec.backends.runtime_args import data_check_args
from mlspec.backends.taskdata import monitor_data
from mlspec.cli import main
from mlspec.compiler import analyze_file, ir
from mlspec.diff import diff
from mlspec.diff.sources import Side
from mlspec.graph import build
from mlspec.runtime.datachecks import run_data_gate
from mlspec.runtime.report import gate_report_from_json, summarize

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "valid" / "multi-column-checks.yaml"
MONITOR = ROOT / "tests" / "support" / "specs" / "monitor-extras.yaml"

N = 20


def write_csv(path: Path, columns: dict[str, list]) -> str:
    rows = zip(*columns.values(), strict=True)
    lines = [",".join(columns), *(",".join("" if v is None else str(v) for v in r) for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_parquet(path: Path, columns: dict[str, list]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), str(path))
    return str(path)


DATA: dict[str, list] = {
    "age": list(range(20, 40)),
    "income": [None] + [1000.0 * i for i in range(1, N)],  # 1 null in 20: 0.05, at the bound
    "city": [None, None] + ["north", "south"] * 9,  # 2 nulls: 0.1
    "region": ["north"] * 19 + ["central"],
    "tenure_years": list(range(N)),
    "feat_a": [float(i) for i in range(N)],
    "feat_b": [None] + [float(i + 100) for i in range(1, N)],  # null and shifted
    "debt_ratio": [i / N for i in range(N)],
    "loan_ratio": [0.5] * 19 + [1.5],
    "flag_x": [0, 1] * 10,
}
REFERENCE: dict[str, list] = {
    "age": list(range(20, 40)),
    "income": [1000.0 * i for i in range(1, N + 1)],
    "feat_a": [float(i) for i in range(N)],
    "feat_b": [float(i) for i in range(N)],
    "feat_gone": [float(i) for i in range(N)],  # a feature the new data lost
}
# (check, subject, passed) in the gate's order: a list in its order, a pattern in the file's.
EXPECTED = [
    ("row_count", "data", False),  # 20 rows, min 1000
    ("null_fraction", "age", True),
    ("null_fraction", "income", True),
    ("null_fraction", "city", False),
    ("null_fraction", "feat_a", True),
    ("null_fraction", "feat_b", False),
    ("range", "age", True),
    ("range", "tenure_years", True),
    ("range", "debt_ratio", True),
    ("range", "loan_ratio", False),
    ("categories", "city", True),
    ("categories", "region", False),
    ("categories", "flag_x", True),
    ("drift", "age", True),
    ("drift", "income", True),
    ("drift", "feat_a", True),
    ("drift", "feat_b", False),
    ("drift", "feat_gone", False),
]


def _gate() -> ir.Gate:
    pipeline = analyze_file(SPEC).pipeline
    [gate] = pipeline.gates
    return gate


def _args(reference: str) -> list[dict]:
    artifacts = {ir.OutputRef("ingest", "reference"): reference}
    return [data_check_args(c, {"max_nulls": 0.05}, artifacts) for c in _gate().checks]


def test_a_list_lowers_to_a_check_per_column_at_its_item_and_a_pattern_stays() -> None:
    checks = _gate().checks
    assert [(c.kind, c.column, c.pattern) for c in checks[1:5]] == [
        ("null_fraction", "age", None),
        ("null_fraction", "income", None),
        ("null_fraction", "city", None),
        ("null_fraction", None, "^feat_"),
    ]
    lines = SPEC.read_text().splitlines()
    for check in checks[1:4]:  # each at its name in the list
        line = lines[check.span.line - 1]
        assert line[check.span.col - 1 :].startswith(check.column), line
    assert checks[1].max == ir.ParamRef("max_nulls")
    assert len(checks) == 1 + 4 + 3 + 3 + 3  # row_count; 3 + pattern per kind


@pytest.mark.parametrize("write", [write_csv, write_parquet], ids=["csv", "parquet"])
def test_one_result_per_column_on_real_files(tmp_path: Path, write: object) -> None:
    assert callable(write)
    data = write(tmp_path / "data", DATA)
    reference = write(tmp_path / "reference", REFERENCE)
    report = run_data_gate("feature_data", data, _args(reference))
    got = [(c.check, c.subject, c.passed) for c in report.checks]
    assert got == EXPECTED
    assert not report.passed
    by = {(c.check, c.subject): c for c in report.checks}
    assert by["null_fraction", "income"].measured == 0.05  # the list's shared bound, inclusive
    assert by["null_fraction", "city"].detail == "2 of 20 values null"
    assert by["categories", "region"].detail == "1 values outside the set: 'central' x1"
    assert by["drift", "feat_gone"].detail == "column 'feat_gone' is missing from the dataset"
    assert by["drift", "feat_a"].measured == 0.0
    # The report keeps them through its JSON, and the log's summary has a line per column.
    assert gate_report_from_json(report.to_json()) == report
    shown = summarize(report).splitlines()
    assert "  [FAIL] null_fraction  city " in "\n".join(shown)
    assert sum(line.startswith("  [") for line in shown) == len(EXPECTED)


@pytest.mark.parametrize("write", [write_csv, write_parquet], ids=["csv", "parquet"])
def test_a_pattern_that_matches_no_column_fails_closed(tmp_path: Path, write: object) -> None:
    assert callable(write)
    data = write(tmp_path / "data", {"age": [1, 2], "income": [3.0, 4.0]})
    check = {"kind": "null_fraction", "pattern": "^feat_", "max": 0.5}
    report = run_data_gate("g", data, [check])
    [result] = report.checks
    assert not report.passed and not result.passed and result.measured is None
    assert result.subject == "/^feat_/"
    assert result.detail == (
        "no column of the dataset matches the pattern '^feat_' (its columns: 'age', 'income')"
    )


def test_a_drift_pattern_reads_the_reference_too(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "data.csv", {"age": [1, 2]})
    reference = write_csv(tmp_path / "ref.csv", {"age": [1, 2], "feat_z": [1, 2]})
    check = {"kind": "drift", "pattern": "^f", "reference": reference, "method": "ks", "max": 0.1}
    [result] = run_data_gate("g", data, [check]).checks
    assert (result.subject, result.passed) == ("feat_z", False)
    missing = {**check, "reference": str(tmp_path / "missing.csv")}
    [result] = run_data_gate("g", data, [missing]).checks
    assert (result.subject, result.passed) == ("/^f/", False)
    assert result.detail.startswith("cannot read the reference ")


@pytest.mark.parametrize(
    ("check", "why"),
    [
        ({"pattern": "^feat_("}, "invalid check: the pattern '^feat_(' does not compile: "),
        ({"pattern": "^a", "column": "a"}, "invalid check: it has both column and pattern"),
        ({"pattern": ""}, "invalid check: pattern must be a non-empty string"),
    ],
)
def test_a_malformed_pattern_check_fails_closed(tmp_path: Path, check: dict, why: str) -> None:
    data = write_csv(tmp_path / "data.csv", {"a": [1, 2]})
    [result] = run_data_gate("g", data, [{"kind": "range", "min": 0, **check}]).checks
    assert not result.passed and result.detail.startswith(why)


def test_an_unreadable_dataset_fails_a_pattern_check_once(tmp_path: Path) -> None:
    check = {"kind": "range", "pattern": "^a", "min": 0}
    [result] = run_data_gate("g", str(tmp_path / "nope.csv"), [check]).checks
    assert (result.subject, result.passed) == ("/^a/", False)
    assert result.detail.startswith("cannot read the dataset ")


# -- every target passes the checks as data ----------------------------------------------------


def _gates_of(main_file: str) -> dict:
    for node in ast.parse(main_file).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "GATES":
            call = node.value
            assert isinstance(call, ast.Call)
            return json.loads(ast.literal_eval(call.args[0]))
    raise AssertionError("no GATES in the generated file")


@pytest.mark.parametrize("target", ["airflow", "prefect"])
def test_python_targets_carry_each_column_and_the_pattern(target: str) -> None:
    compiled = compile_pipeline(SPEC, target)
    assert compiled.ok, compiled.diagnostics
    [main_file] = [a for a in compiled.artifacts if a.path == "credit_features.py"]
    checks = _gates_of(main_file.text)["feature_data"]["checks"]
    assert [(c["kind"], c.get("column"), c.get("pattern")) for c in checks] == [
        (c.kind, c.column, c.pattern) for c in _gate().checks
    ]
    assert checks[1]["max"] == {"param": "max_nulls"}
    assert checks[-1]["reference"] == {"artifact": ["ingest", "reference"]}


def test_kubeflow_carries_each_column_and_the_pattern() -> None:
    compiled = compile_pipeline(SPEC, "kubeflow")
    assert compiled.ok, compiled.diagnostics
    [ir_file] = [a for a in compiled.artifacts if a.path.endswith(".kfp.yaml")]
    spec = kfp_ir.validate(ir_file.text)[0]  # kfp's own protobufs
    [source] = [
        e["container"]["command"][-1]
        for e in spec["deploymentSpec"]["executors"].values()
        if "def feature_data(" in e["container"]["command"][-1]
    ]
    call = next(
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "_mlspec_filled"
    )
    checks = ast.literal_eval(call.args[0])
    assert [(c["kind"], c.get("column"), c.get("pattern")) for c in checks] == [
        (c.kind, c.column, c.pattern) for c in _gate().checks
    ]


def test_a_monitor_checks_a_list_and_a_pattern() -> None:
    pipeline = analyze_file(MONITOR).pipeline
    checks = monitor_data(pipeline)["checks"]
    assert {"kind": "null_fraction", "column": "segment", "max": 0.05} in checks
    assert {"kind": "null_fraction", "pattern": "^x", "max": 0.05} in checks
    drift = [c for c in checks if c["kind"] == "drift" and "pattern" in c]
    assert drift == [
        {
            "kind": "drift",
            "pattern": "^x$",
            "max": 0.2,
            "reference": "/data/reference/extras.csv",
            "method": "psi",
            "bins": 10,
        }
    ]


# -- review: graph and diff ------------------------------------------------------------------


def test_the_graph_shows_each_column_and_the_pattern() -> None:
    labels = [n.label for n in build(analyze_file(SPEC).pipeline).nodes]
    assert "feature_data\ndata gate, 14 checks, on fail: block" in labels  # each column counts
    monitor = "\n".join(n.label for n in build(analyze_file(MONITOR).pipeline).nodes)
    assert "range(/^x$/) 0..10" in monitor
    assert "null_fraction(segment) max 0.05" in monitor


def _changes(old: str, new: str) -> list[tuple[str, str]]:
    text = SPEC.read_text()
    assert text.count(old) == 1, old
    edited = text.replace(old, new).replace("version: 1.0.0", "version: 1.0.1")
    result = diff(Side("a.yaml", text), Side("b.yaml", edited))
    return [(c.risk, c.summary) for c in result.changes if c.subject != "version"]


def test_diff_a_column_added_is_safe_and_one_removed_risky() -> None:
    assert _changes("[age, income, city], max", "[age, income, city, zip], max") == [
        ("safe", "check null_fraction(zip) added")
    ]
    assert _changes("[age, income, city], max", "[age, city], max") == [
        ("risky", "check null_fraction(income) removed")
    ]
    # The same columns, another way to write them: no change.
    assert _changes("[age, tenure_years], min: 0", "[tenure_years, age], min: 0") == []


def test_diff_a_pattern_changed_is_the_old_check_removed() -> None:
    assert _changes('pattern: "_ratio$"', 'pattern: "ratio"') == [
        ("risky", "check range(/_ratio$/) removed"),
        ("safe", "check range(/ratio/) added"),
    ]
    assert _changes('{pattern: "^feat_", max: 0.01}', '{pattern: "^feat_", max: 0.02}') == [
        ("risky", "max of check null_fraction(/^feat_/) raised: 0.01 -> 0.02")
    ]


def test_diff_command_reports_a_column_removed(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(SPEC.read_text())
    new.write_text(SPEC.read_text().replace("[city, region]", "[city]"))
    shown = CliRunner().invoke(main, ["diff", str(old), str(new)]).output
    assert "  RISKY   gate feature_data: check categories(region) removed\n" in shown


# -- a real run ----------------------------------------------------------------------------------

FLAGSHIP_CHECKS = """\
      - null_fraction: {column: mean_radius, max: 0.0}
      - range: {column: mean_radius, min: 5, max: 35}
"""
MULTI_COLUMN = """\
      - null_fraction: {pattern: "^mean_", max: 0.0}
      - range: {columns: [mean_radius, mean_area], min: 5, max: 35}
"""


@pytest.mark.slow
def test_prefect_run_reports_each_column(tmp_path: Path, prefect_api: str) -> None:
    """The flagship (a copy: other tests rely on the original) with a pattern over its ten mean_
    features and a list whose second column is out of range: the run is blocked by that column,
    and the gate's log has a line per column."""
    folder = tmp_path / "flagship"
    shutil.copytree(FLAGSHIP.parent, folder)
    spec = folder / FLAGSHIP.name
    text = spec.read_text()
    assert text.count(FLAGSHIP_CHECKS) == 1
    spec.write_text(text.replace(FLAGSHIP_CHECKS, MULTI_COLUMN))
    assert yaml.safe_load(spec.read_text())["gates"]["data_quality"]["checks"][2] == {
        "null_fraction": {"pattern": "^mean_", "max": 0.0}
    }
    code, summary, output = mlspec_run(tmp_path / "state", str(spec), server=prefect_api)
    assert code == 0, output[-6000:]
    assert summary is not None and summary["outcome"] == "blocked", output[-6000:]
    assert summary["gates"]["data_quality"] == {"passed": False, "failed": ["range mean_area"]}
    log = (Path(summary["run_folder"]) / "engine.log").read_text(encoding="utf-8")
    means = [line for line in log.splitlines() if "[ok  ] null_fraction  mean_" in line]
    assert len({line.split()[3] for line in means}) == 10, means
    assert "[ok  ] range          mean_radius" in log
    assert "[FAIL] range          mean_area" in log


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_monitor_judges_each_column_a_pattern_matches_against_the_training_data(
    uri: str, model_path: str, tmp_path: Path
) -> None:
    """The runtime monitor job: drift over every mean_ and worst_ feature against the served
    version's training data (the reference the registry records); two were shifted."""
    from mlflow import MlflowClient

    from mlspec.runtime.monitor import TRAINED_ON, run_monitor
    from mlspec.runtime.registry import promote, register_model_version

    reference = serving.training_data(tmp_path / "train.csv")
    version = register_model_version(
        uri, "clf", model_path, run_id="train-0", spec_name="clf", spec_version="1.0.0",
        gate_reports=[], metrics={}, reference_path=reference,
    )  # fmt: skip
    promote(uri, "clf", version, "champion", [])
    serving.served_inputs(tmp_path / "inputs", drifted=True)
    drift = {"kind": "drift", "pattern": "^(mean|worst)_", "reference": TRAINED_ON}
    cfg = {
        "name": "clf-monitor", "pipeline": "clf", "registered_model": "clf", "alias": "champion",
        "inputs": {"path": str(tmp_path / "inputs"), "window_seconds": None},
        "checks": [{**drift, "method": "psi", "max": 0.2, "bins": 10}],
        "feedback": None, "rollback_on": [],
    }  # fmt: skip
    report_path = tmp_path / "report.json"
    assert run_monitor(cfg, run_id="m-1", tracking_uri=uri, report_path=str(report_path))
    checks = json.loads(report_path.read_text())["checks"]["checks"]
    assert len(checks) == 20  # ten mean_ and ten worst_ features, each its own result
    assert {c["subject"] for c in checks if not c["passed"]} == {"mean_texture", "worst_area"}
    tag = MlflowClient(uri, uri).get_model_version("clf", version).tags
    assert any("drift mean_texture" in value for value in tag.values())


def test_lineage_lists_each_failed_column(tmp_path: Path) -> None:
    """`mlspec lineage` reads the gate's report artifact: each failed column is its own entry."""
    from mlspec.lineage import _gate

    data = write_csv(tmp_path / "data", DATA)
    report = run_data_gate("feature_data", data, _args(write_csv(tmp_path / "ref", REFERENCE)))
    shown = _gate("feature_data", "blocked", json.loads(report.to_json()))
    assert shown["failed_checks"] == [f"{k} {s}" for k, s, passed in EXPECTED if not passed]
