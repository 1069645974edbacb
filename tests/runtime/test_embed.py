"""The embedding mechanism: runtime modules become one self-contained source text."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import types

import pytest

from mlspec.runtime import embed
from mlspec.runtime.gates import Baseline, evaluate_model_gate

REQUIREMENTS = [
    {"metric": "evaluate.auc", "min": 0.9},
    {"metric": "evaluate.auc", "vs": "champion", "better": "higher", "tolerance": 0.01},
]


def load(text: str) -> types.ModuleType:
    module = types.ModuleType("mlspec_runtime_under_test")
    sys.modules[module.__name__] = module
    exec(compile(text, "<bundle>", "exec"), module.__dict__)
    return module


def test_bundle_imports_only_the_standard_library_mlflow_and_pyarrow() -> None:
    text = embed.bundle()
    allowed = set(sys.stdlib_module_names) | embed.ALLOWED_THIRD_PARTY
    assert embed.imported_modules(text) <= allowed
    assert "mlspec" not in embed.imported_modules(text)
    assert embed.check_bundle(text) == []


def test_bundle_holds_every_runtime_module_and_is_deterministic() -> None:
    text = embed.bundle()
    for name in embed.RUNTIME_MODULES:
        assert f"# ---- mlspec.runtime.{name} " in text
    assert text == embed.bundle()
    ast.parse(text)


def test_bundle_decides_like_the_modules_it_embeds() -> None:
    runtime = load(embed.bundle())
    metrics = {"evaluate.auc": 0.95}
    for champion in (
        {"first_run": "registered model 'm' has no versions yet"},
        {"problem": "registry sqlite:///r.db: the SQLite database file r.db does not exist"},
        {"metrics": {"evaluate.auc": 0.97}},
        {"metrics": {"evaluate.auc": 0.95}},
    ):
        direct = evaluate_model_gate(
            "g",
            metrics,
            REQUIREMENTS,
            first_run="fail",
            baselines={"champion": Baseline(**champion)},
        )
        embedded = runtime.evaluate_model_gate(
            "g",
            metrics,
            REQUIREMENTS,
            first_run="fail",
            baselines={"champion": runtime.Baseline(**champion)},
        )
        assert embedded.to_json() == direct.to_json()


def test_bundle_runs_in_a_process_without_mlspec(tmp_path) -> None:
    """What a generated pipeline does: run the embedded text where mlspec is not importable."""
    (tmp_path / "runtime.py").write_text(embed.bundle(), encoding="utf-8")
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, ".")  # -I left the working folder off the path
        sys.modules["mlspec"] = None  # importing mlspec now fails
        import runtime
        report = runtime.evaluate_model_gate(
            "g", {"evaluate.auc": 0.95}, [{"metric": "evaluate.auc", "min": 0.9}]
        )
        print(runtime.summarize(report))
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


def test_function_source_is_self_contained() -> None:
    source = embed.function_source(
        "model_gate", "evaluate_model_gate", ["gate", "metrics", "requirements"]
    )
    namespace: dict = {}
    exec(compile(source, "<component>", "exec"), namespace)
    report = namespace["model_gate"](
        gate="g", metrics={"evaluate.auc": 0.5}, requirements=REQUIREMENTS[:1]
    )
    assert report.passed is False
    tree = ast.parse(source)
    assert [type(n).__name__ for n in tree.body] == ["FunctionDef"]


def test_function_source_refuses_non_identifiers() -> None:
    with pytest.raises(embed.EmbedError):
        embed.function_source("gate(); import os", "evaluate_model_gate", [])


def test_check_bundle_finds_forbidden_imports_and_clashing_names() -> None:
    text = "import numpy\nfrom os import path\ndef f(): pass\nclass f: pass\n"
    assert embed.check_bundle(text) == [
        "imports numpy, which is neither standard library nor ['mlflow', 'pyarrow']",
        "'f' is defined twice (lines 3 and 4)",
    ]


def test_runtime_modules_import_each_other_only_in_the_bundlable_form(tmp_path) -> None:
    with pytest.raises(embed.EmbedError, match=r"imports mlspec\.runtime"):
        embed._without_internal_imports("def f():\n    import mlspec.runtime.gates\n", "x")
