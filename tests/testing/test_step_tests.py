"""Step tests on fixtures (`tests:`): `mlspec test`, `run_spec_tests` and what they catch.

Each test runs a real step function in-process by the calling convention of every target; the
steps here are small pure-Python functions written to a temporary folder beside their spec, and
the flagship's own steps (scikit-learn) on its fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.diagnostics import SpecError
from mlspec.testing import run_spec_tests

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer"

STEPS = """\
import csv


def make(rows: int, label: str, table: str, reference: str) -> dict:
    for path, count in ((table, rows), (reference, 50)):
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["amount", label])
            writer.writerows([[float(i % 10), i % 2] for i in range(count)])
    return {"score": rows / 100}


def use(table: str, baseline: str, factor: float, scaled: str) -> dict:
    with open(table, newline="") as handle:
        rows = list(csv.reader(handle))
    with open(scaled, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows[0])
        writer.writerows([[float(a) * factor, b] for a, b in rows[1:]])
    return {}
"""

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: demo, version: 1.0.0}
params:
  rows: {type: int, default: 40}
steps:
  make:
    python: demo.steps:make
    inputs: {rows: params.rows, label: {value: is_fraud}}
    outputs: {table: dataset, reference: dataset, score: float}
  use:
    python: demo.steps:use
    inputs: {table: make.table, baseline: make.reference, factor: 1.0}
    outputs: {scaled: dataset}
gates:
  made:
    dataset: make.table
    checks:
      - row_count: {min: 10}
      - columns: {amount: float, is_fraud: int}
  scaled_like_reference:
    dataset: use.scaled
    checks:
      - drift: {column: amount, reference: make.reference, method: ks, max: 0.3}
"""

TESTS = """\
tests:
  makes_rows:
    step: make
    expect:
      table: {columns: {amount: float, is_fraud: int}, rows: {min: 40, max: 40}}
      score: {min: 0.3, max: 0.5}
    gates: [made]
  few_rows:
    step: make
    inputs: {rows: 5}
    expect:
      table: {rows: {min: 10}}
      score: {min: 0.3}
    gates: [made]
  other_label:
    step: make
    inputs: {label: {value: fraud}}
    expect: {table: {columns: {is_fraud: int}}}
  scales:
    step: use
    inputs:
      table: {file: fixtures/table.csv}
      baseline: {file: fixtures/table.csv}
    expect: {scaled: {rows: {min: 3}}}
    gates: [scaled_like_reference]
  scales_too_far:
    step: use
    inputs:
      table: {file: fixtures/table.csv}
      baseline: {file: fixtures/table.csv}
      factor: 100
    gates: [scaled_like_reference]
"""


def _project(tmp_path: Path, tests: str = TESTS) -> Path:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "__init__.py").write_text("")
    (tmp_path / "demo" / "steps.py").write_text(STEPS)
    (tmp_path / "fixtures").mkdir()
    rows = "".join(f"{i % 10}.0,{i % 2}\n" for i in range(20))
    (tmp_path / "fixtures" / "table.csv").write_text("amount,is_fraud\n" + rows)
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SPEC + tests)
    return spec


def test_each_test_passes_or_fails_with_its_reasons(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    results = {r.name: r for r in run_spec_tests(spec)}
    assert list(results) == ["makes_rows", "few_rows", "other_label", "scales", "scales_too_far"]
    assert results["makes_rows"].passed, results["makes_rows"].reasons
    assert results["scales"].passed, results["scales"].reasons  # drift reference: a fixture
    # A parameter given by the test: 5 rows, a score of 0.05; the expectation and the gate say no.
    few = results["few_rows"].reasons
    assert few[0].startswith("output 'table': row_count table: measured 5, wanted >= 10"), few
    assert few[1] == "output 'score' is 0.05, below min 0.3"
    assert few[2].startswith("gate 'made' did not pass: row_count"), few
    # A constant given by the test reaches the step: the column is named otherwise.
    assert results["other_label"].reasons[0].startswith("output 'table': columns is_fraud")
    # The gate judges the step's output against the fixture given as its drift reference.
    far = results["scales_too_far"].reasons
    assert len(far) == 1 and far[0].startswith("gate 'scaled_like_reference' did not pass: drift")
    assert "MLSPEC-GATE" in results["scales_too_far"].output  # what the gate printed


def test_the_command_reports_like_pytest(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    result = CliRunner().invoke(main, ["test", str(spec)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{spec}::makes_rows PASSED (")
    assert lines[1].startswith(f"{spec}::few_rows FAILED (")
    assert lines[2] == "    output 'table': row_count table: measured 5, wanted >= 10 (5 rows)"
    assert lines[-1].startswith("==== 3 failed, 2 passed in ")
    assert f"---- {spec}::scales_too_far: output ----" in lines

    chosen = CliRunner().invoke(main, ["test", "-k", "scales", str(spec), "--format", "json"])
    assert chosen.exit_code == 1, chosen.output
    data = json.loads(chosen.stdout)
    outcomes = {t["name"]: t["outcome"] for t in data["tests"]}
    assert outcomes == {"scales": "passed", "scales_too_far": "failed"}
    assert (data["passed"], data["failed"]) == (1, 1)

    passing = CliRunner().invoke(main, ["test", "-k", "makes_rows", str(spec)])
    assert passing.exit_code == 0, passing.output
    assert passing.stdout.splitlines()[-1].startswith("==== 1 passed in ")
    nothing = CliRunner().invoke(main, ["test", "-k", "nothing", str(spec)])
    assert nothing.exit_code == 2 and "no test matches -k 'nothing'" in nothing.output


def test_a_step_that_raises_fails_its_test_with_the_exception(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    steps = tmp_path / "demo" / "steps.py"
    steps.write_text(STEPS.replace("    return {}\n", "    return 1 / 0\n"))
    [result] = run_spec_tests(spec, "scales_too")
    assert result.reasons == ("step 'use' raised ZeroDivisionError: division by zero",)
    assert 'demo/steps.py", line' in result.output  # the traceback, in the step's own file
    # A step that returns no dict with its scalars breaks the calling convention.
    steps.write_text(STEPS.replace('return {"score": rows / 100}', "return None"))
    [result] = run_spec_tests(spec, "makes_rows")
    assert result.reasons[0].startswith("step 'make' raised TypeError: demo.steps:make must")


def test_the_flagship_passes_and_catches_a_broken_step(tmp_path: Path) -> None:
    passed = CliRunner().invoke(main, ["test", str(FLAGSHIP / "pipeline.yaml")])
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.count(" PASSED (") == 2
    # The same folder with `train` broken: an off-by-one drops a label. The broken copy is
    # imported afresh although this process imported the example's package just before.
    copy = tmp_path / "breast-cancer"
    shutil.copytree(FLAGSHIP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    steps = copy / "breast_cancer" / "steps.py"
    text = steps.read_text()
    assert text.count("forest.fit(features, labels)") == 1
    steps.write_text(
        text.replace("forest.fit(features, labels)", "forest.fit(features, labels[1:])")
    )
    broken = CliRunner().invoke(main, ["test", str(copy / "pipeline.yaml")])
    assert broken.exit_code == 1, broken.output
    assert f"{copy / 'pipeline.yaml'}::train_on_fixture FAILED (" in broken.stdout
    assert "    step 'train' raised ValueError: Found input variables with inconsistent" in (
        broken.stdout
    )
    assert f"{copy / 'pipeline.yaml'}::ingest_splits PASSED (" in broken.stdout
    # A step that writes no model at all.
    steps.write_text(
        text.replace(
            '    with open(model, "wb") as handle:\n        pickle.dump(forest, handle)\n', ""
        )
    )
    broken = CliRunner().invoke(main, ["test", "-k", "train", str(copy / "pipeline.yaml")])
    assert broken.exit_code == 1, broken.output
    assert "    output 'model' was not written\n" in broken.stdout


def test_a_missing_fixture_is_a_positioned_diagnostic(tmp_path: Path) -> None:
    case = ROOT / "tests" / "testing" / "specs" / "MS264-missing-fixture-file.yaml"
    line, col = (int(n) for n in case.read_text().split("\n", 1)[0].split()[-1].split(":"))
    # validate and compile do not read fixtures: a spec copied without them still compiles.
    assert CliRunner().invoke(main, ["validate", str(case)]).exit_code == 0
    result = CliRunner().invoke(main, ["test", str(case)])
    assert result.exit_code == 1, result.output
    assert f"{case}:{line}:{col}: error[MS264]: fixture 'fixtures/missing.csv'" in result.stderr
    with pytest.raises(SpecError) as caught:
        run_spec_tests(case)
    assert [d.code for d in caught.value.diagnostics] == ["MS264"]


def test_no_tests_is_a_pass(tmp_path: Path) -> None:
    spec = _project(tmp_path, tests="")
    result = CliRunner().invoke(main, ["test", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("==== no tests ran in ")


@pytest.mark.parametrize(
    ("tests", "code", "needle"),
    [
        ("tests:\n  t: {step: make, inputs: {rows: {value: many}}}\n", "MS261", "is a int"),
        ("tests:\n  t: {step: use, inputs: {baseline: {file: fixtures/table.csv}}}\n", "MS261",
         "no fixture for input 'table'"),
        ("tests:\n  t: {step: make, inputs: {table: 3}}\n", "MS261", "has no input 'table'"),
        ("tests:\n  t: {step: make, expect: {table: {min: 1}}}\n", "MS262", "'min' does not"),
        ("tests:\n  t: {step: make, expect: {score: {rows: {min: 1}}}}\n", "MS262", "'rows'"),
        ("tests:\n  t: {step: make, gates: [scaled_like_reference]}\n", "MS263", "not an output"),
        ("tests:\n  t:\n    step: use\n    inputs: {table: {file: fixtures/table.csv}, "
         "baseline: {file: fixtures/table.csv}}\n    gates: [made]\n", "MS263", "make.table"),
        ("tests:\n  t: {step: make, inputs: {rows: two}}\n", "MS103", "{value: TEXT}"),
        ("tests:\n  t: {step: make, expect: {table: {rows: {min: 9, max: 2}}}}\n", "MS104",
         "min 9 is greater than max 2"),
        ("tests:\n  t: {step: make, expect: {score: {min: 0.9, max: 0.1}}}\n", "MS104",
         "min 0.9 is greater than max 0.1"),
        ("tests:\n  t: {step: make, expect: {table: {rows: {}}}}\n", "MS105", "'min', 'max'"),
    ],
)  # fmt: skip
def test_tests_that_do_not_fit_the_spec(tmp_path: Path, tests: str, code: str, needle: str) -> None:
    spec = _project(tmp_path, tests=tests)
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert f"error[{code}]" in result.stderr and needle in result.stderr, result.stderr


def test_the_drift_reference_must_come_from_the_step_or_a_fixture(tmp_path: Path) -> None:
    spec = _project(
        tmp_path,
        tests=textwrap.dedent(
            """\
            tests:
              t:
                step: use
                inputs: {table: {file: fixtures/table.csv}, baseline: {value: x}}
                gates: [scaled_like_reference]
            """
        ),
    )
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "must give it a fixture file" in result.stderr  # baseline is a dataset
    assert "drift reference make.reference of gate 'scaled_like_reference'" in result.stderr


def test_the_pytest_plugin_makes_each_test_an_item(tmp_path: Path) -> None:
    """In a user's suite: the spec named in `mlspec_specs`, one pytest item per step test."""
    spec = _project(tmp_path)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmlspec_specs = pipeline.yaml\ntestpaths = pipeline.yaml\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "3 failed, 2 passed" in done.stdout, done.stdout
    assert "PASSED pipeline.yaml::makes_rows" in done.stdout
    assert "FAILED pipeline.yaml::few_rows" in done.stdout
    assert "output 'score' is 0.05, below min 0.3" in done.stdout
    # Without the option the plugin collects nothing: a suite that names no spec is unchanged.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 5, done.stdout  # no tests collected
    spec.write_text(SPEC + TESTS.replace("step: use", "step: uses", 1))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--mlspec-spec",
         "pipeline.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout  # a collection error
    assert "error[MS260]: test 'scales' names unknown step 'uses'" in done.stdout


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("      n_estimators: 10\n", "      n_estimators: 20\n"),
            ("review", "test train_on_fixture", "inputs[n_estimators].value 10 -> 20"),
        ),
        (
            ("    gates: [data_quality]\n", ""),
            ("review", "test ingest_splits", 'gates ["data_quality"] -> []'),
        ),
        (
            ("  train_on_fixture:\n", "  train_fixture:\n"),
            ("risky", "test train_on_fixture", "removed (it tested step train)"),
        ),
    ],
)
def test_diff_rates_changes_of_tests(
    tmp_path: Path, edit: tuple[str, str], expected: tuple[str, str, str]
) -> None:
    """No test change needs a version bump: the pipeline that runs is the same."""
    text = (FLAGSHIP / "pipeline.yaml").read_text()
    assert text.count(edit[0]) == 1
    folder = tmp_path / "breast-cancer"  # the spec beside its step package and fixtures
    shutil.copytree(FLAGSHIP, folder, ignore=shutil.ignore_patterns("__pycache__"))
    old, new = folder / "old.yaml", folder / "new.yaml"
    old.write_text(text)
    new.write_text(text.replace(*edit))
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"])
    changes = json.loads(result.output)["files"][0]["changes"]
    shown = [(c["risk"], c["subject"], c["summary"]) for c in changes]
    assert expected in shown, shown
    assert all(c["bump"] is None for c in changes), changes
    if expected[0] == "risky":
        assert ("safe", "test train_fixture", "added (tests step train)") in shown


NOTEBOOK_TESTS = """
tests:
  prepares_rows:
    step: prepare
    inputs: {size: 7}
    expect: {rows: {columns: {id: int, score: float}, rows: {min: 7, max: 7}}}
  scores_a_fixture:
    step: score
    inputs:
      rows: {file: fixtures/rows.csv}
      threshold: 0.9
    expect: {mean: {min: 0.49, max: 0.51}, count: {min: 2, max: 2}, passed: {}}
"""


def test_a_notebook_step_runs_on_its_fixtures(tmp_path: Path) -> None:
    """`mlspec test` smoke-runs notebook steps as the engines run them (the same calling
    convention, a real kernel), on inline values and fixture files."""
    shutil.copytree(ROOT / "specs" / "valid" / "notebooks", tmp_path / "notebooks")
    spec = tmp_path / "notebook.yaml"
    text = (ROOT / "specs" / "valid" / "notebook.yaml").read_text(encoding="utf-8")
    spec.write_text(text + NOTEBOOK_TESTS, encoding="utf-8")
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "rows.csv").write_text("id,score\n0,0.25\n1,0.75\n")
    result = CliRunner().invoke(main, ["test", str(spec), "--format", "json"])
    assert result.exit_code == 0, result.output
    found = {t["name"]: t for t in json.loads(result.stdout)["tests"]}
    assert {n: t["outcome"] for n, t in found.items()} == {
        "prepares_rows": "passed",
        "scores_a_fixture": "passed",
    }
    (tmp_path / "fixtures" / "rows.csv").write_text("id,score\n")  # no rows: the mean fails
    result = CliRunner().invoke(main, ["test", str(spec), "-k", "scores"])
    assert result.exit_code == 1 and "ZeroDivisionError" in result.output, result.output


@pytest.mark.parametrize("for_each", ["[eu, us]", "params.regions"])
def test_a_looped_step_is_ms260(tmp_path: Path, for_each: str) -> None:
    spec = tmp_path / "fan.yaml"
    spec.write_text(
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: fan, version: 1.0.0}\n"
        'params:\n  regions: {type: "list[str]", default: [eu, us]}\n'
        f"steps:\n  per_region:\n    python: demo.steps:make\n    for_each: {for_each}\n"
        "    inputs: {region: item}\n    outputs: {table: dataset}\n"
        "tests:\n  one:\n    step: per_region\n    expect: {table: {}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["test", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:14:11: error[MS260]" in result.output, result.output
    assert "runs in a loop, once per for_each element" in result.output
    assert "a test runs one iteration: say which with `item: ELEMENT`" in result.output


LOOP_TESTS = """
tests:
  makes_eu:
    step: make
    item: eu
    expect: {rows: {min: 12, max: 12}, table: {rows: {min: 12, max: 12}}}
    gates: [region_rows]
  features_of_us:
    step: features
    item: us
    inputs: {raw: {file: fixtures/us.csv}}
    expect: {table: {columns: {region: str, amount: int}, rows: {min: 2, max: 2}}}
  features_of_the_wrong_region:
    step: features
    item: eu
    inputs: {raw: {file: fixtures/us.csv}}
"""


def test_a_looped_step_is_tested_one_iteration_at_a_time(tmp_path: Path) -> None:
    """`item:` names the element; a per-item gate judges that iteration's output, and the
    step reads its own region's fixture (the loop's demo step asserts the region)."""
    loops = ROOT / "tests" / "support" / "specs"
    shutil.copytree(loops / "fanout_demo", tmp_path / "fanout_demo")
    spec = tmp_path / "fanout.yaml"
    spec.write_text((loops / "fanout.yaml").read_text(encoding="utf-8") + LOOP_TESTS)
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "us.csv").write_text("region,amount\nus,1\nus,2\n")
    result = CliRunner().invoke(main, ["test", str(spec), "--format", "json"])
    assert result.exit_code == 1, result.output
    found = {t["name"]: t for t in json.loads(result.stdout)["tests"]}
    assert {n: t["outcome"] for n, t in found.items()} == {
        "makes_eu": "passed",
        "features_of_us": "passed",
        "features_of_the_wrong_region": "failed",
    }, result.output
    assert "eu read another region's table" in result.output


@pytest.mark.parametrize(
    ("test", "line", "col", "code"),
    [
        ("    step: make\n", 3, 11, "MS260"),  # which iteration?
        ("    step: combine\n    item: eu\n", 4, 11, "MS261"),  # combine runs once
        ("    step: score\n    item: eu\n", 4, 11, "MS261"),  # a float list
        ("    step: make\n    item: eu\n    inputs: {region: {value: us}}\n", 5, 14, "MS261"),
    ],
)
def test_an_iteration_test_names_one_element_of_the_step_s_list(
    tmp_path: Path, test: str, line: int, col: int, code: str
) -> None:
    spec = tmp_path / "fanout.yaml"
    head = (ROOT / "tests" / "support" / "specs" / "fanout.yaml").read_text(encoding="utf-8")
    spec.write_text(head + "tests:\n  t:\n" + test, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    at = f"{spec}:{len(head.splitlines()) + line}:{col}: error[{code}]"
    assert at in result.output, result.output
