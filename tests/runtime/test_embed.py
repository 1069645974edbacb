"""The runtime as a package of files that generated pipelines carry (`embed.package`)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from shipped import load

from mlspec.runtime import embed
from mlspec.runtime.gates import Baseline, evaluate_model_gate

REQUIREMENTS = [
    {"metric": "evaluate.auc", "min": 0.9},
    {"metric": "evaluate.auc", "vs": "champion", "better": "higher", "tolerance": 0.01},
]
EVERYTHING = embed.needed_modules(("tasks", "cache"))


def test_every_module_imports_only_the_standard_library_mlflow_pyarrow_and_its_package() -> None:
    for compact in (False, True):
        pkg = embed.package(EVERYTHING, compact=compact)
        for file, text in pkg.files:
            assert embed.check_module(file, text) == []
            assert "mlspec" not in embed.imported_modules(text)


def test_the_package_is_named_by_its_content_and_built_once_per_process() -> None:
    pkg = embed.package(EVERYTHING)
    assert pkg is embed.package(EVERYTHING)  # cached: compiling a pipeline builds it once
    assert pkg.name.startswith(embed.PACKAGE_PREFIX) and pkg.name.isidentifier()
    assert [f for f, _ in pkg.files] == sorted(["__init__.py", *(f"{m}.py" for m in EVERYTHING)])
    assert dict(pkg.files)["datachecks.py"] == embed.module_source("datachecks")
    # Different content, different name: two compilers' packages never overwrite each other.
    assert embed.package(EVERYTHING, compact=True).name != pkg.name
    assert embed.package(embed.needed_modules(("tasks",))).name != pkg.name


def test_a_kind_of_step_needs_only_the_modules_it_uses() -> None:
    # A gate does not record itself (its tracked caller does): data and serving gates of an
    # untracked pipeline carry no registry or lineage code.
    assert embed.needed_modules(("steps:data_gate_step",)) == ("report", "datachecks", "steps")
    assert embed.needed_modules(("steps:serving_gate_step",)) == (
        "report",
        "datachecks",
        "serving",
        "steps",
    )
    # The registry (its versions' fingerprints and links back to the run) needs lineage.
    registry = ("report", "datachecks", "registry", "lineage")
    assert embed.needed_modules(("steps:model_gate_step",)) == (
        *registry[:2],
        "gates",
        *registry[2:],
        "steps",
    )
    assert embed.needed_modules(("steps:promotion_step",)) == (*registry, "steps")
    assert embed.needed_modules(("lineage:record_gate",)) == registry
    assert embed.needed_modules(("tasks",)) == EVERYTHING[:-1]
    with pytest.raises(embed.EmbedError, match="no function"):
        embed.needed_modules(("steps:nothing",))


def test_compact_modules_are_the_same_code(tmp_path: Path) -> None:
    """Without docstrings and comments, each module compiles to the same code, and decides the
    same (a model gate against every kind of champion)."""
    for name in EVERYTHING:
        source = embed.module_source(name)
        compact = embed._compact(source)
        assert len(compact) < len(source)
        assert "\n\n" not in compact
        assert not [line for line in compact.splitlines() if line.lstrip().startswith("#")]
    gates = load(embed.package(EVERYTHING, compact=True), tmp_path, "gates")
    metrics: dict[str, object] = {"evaluate.auc": 0.95}
    for champion in (
        {"first_run": "registered model 'm' has no versions yet"},
        {"problem": "registry sqlite:///r.db: the SQLite database file r.db does not exist"},
        {"metrics": {"evaluate.auc": 0.97}},
        {"metrics": {"evaluate.auc": 0.95}},
    ):
        direct = evaluate_model_gate(
            "g", metrics, REQUIREMENTS, baselines={"champion": Baseline(**champion)}
        )
        shipped = gates.evaluate_model_gate(
            "g", metrics, REQUIREMENTS, baselines={"champion": gates.Baseline(**champion)}
        )
        assert shipped.to_json() == direct.to_json()


def test_the_package_runs_in_a_process_without_mlspec(tmp_path: Path) -> None:
    """What a generated pipeline does: import the package where mlspec is not importable."""
    pkg = embed.package(EVERYTHING)
    for path, text in embed.folder_files(pkg, airflow=True):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, ".")  # -I left the working folder off the path
        sys.modules["mlspec"] = None  # importing mlspec now fails
        from {pkg.name} import gates, report, tasks, cache
        result = gates.evaluate_model_gate(
            "g", {{"evaluate.auc": 0.95}}, [{{"metric": "evaluate.auc", "min": 0.9}}]
        )
        print(report.summarize(result))
        """
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gate g (model): PASSED")
    ignore = (tmp_path / pkg.name / embed.AIRFLOW_IGNORE).read_text(encoding="utf-8")
    assert "[!.]*" in ignore.splitlines()


def test_check_module_finds_forbidden_imports() -> None:
    text = "import numpy\nfrom os import path\nfrom ..mlspec import x\nfrom .report import y\n"
    assert embed.check_module("m.py", text) == [
        "m.py imports numpy, which is neither standard library nor "
        "['mlflow', 'nbclient', 'nbformat', 'pyarrow']",
        "m.py imports from outside its package (line 3)",
    ]


def test_runtime_modules_import_each_other_relatively() -> None:
    """So that they work as mlspec.runtime and as any generated package, unchanged."""
    for name in EVERYTHING:
        for node in ast.walk(ast.parse(embed.module_source(name))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("mlspec"), (name, node.module)


def test_a_component_carries_only_the_functions_its_entries_reach(tmp_path: Path) -> None:
    """KFP components carry a compact package without the functions that nothing they run can
    reach; every module of it still imports, and what they run still decides the same."""
    entries = ("steps:data_gate_step", "steps:model_gate_step", "steps:promotion_step")
    pkg = embed.component_package(entries)
    whole = dict(embed.package(embed.needed_modules(entries), compact=True).files)
    files = dict(pkg.files)
    assert files.keys() == whole.keys()

    def functions(text: str) -> set[str]:
        return {n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}

    kept, left_out = functions(files["registry.py"]), functions(whole["registry.py"])
    assert {"promote_after_gates", "alias_metrics", "register_model_version"} <= kept
    assert left_out - kept == {"resolve_alias", "find_version_by_run"}  # rollback's, a task's
    for name in embed.needed_modules(entries):
        load(pkg, tmp_path, name)
    gates = load(pkg, tmp_path, "gates")
    report = gates.evaluate_model_gate("g", {"evaluate.auc": 0.95}, REQUIREMENTS[:1])
    assert (
        report.to_json()
        == evaluate_model_gate("g", {"evaluate.auc": 0.95}, REQUIREMENTS[:1]).to_json()
    )


def test_compact_string_literals_are_single_quoted_where_no_escape_is_needed() -> None:
    """KFP's IR holds the modules in YAML double-quoted scalars, which escape each `"`."""
    source = 'a = "x"\nb = "it\'s"\nc = rb"\\x00"\nd = f"{a}"\ne = """doc"""\n'
    assert (
        embed._compact(source)
        == 'a = \'x\'\nb = "it\'s"\nc = rb"\\x00"\nd = f"{a}"\ne = """doc"""\n'
    )


def test_a_compact_block_of_only_a_docstring_is_pass() -> None:
    source = (
        'class Refused(Exception):\n    """Why.\n\n    More."""\n\n\ndef f():\n    """Doc."""\n'
    )
    assert embed._compact(source) == "class Refused(Exception):\n    pass\ndef f():\n    pass\n"
