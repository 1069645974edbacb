"""The step package on Airflow: what the check says, and the pinned copy beside the DAG.

The copy is checked by the runtime shipped beside the DAG (the generated `mlspec_runtime_*`
package), in a fresh isolated interpreter whose working directory and path hold no checkout:
it imports the step module from the placed copy, and refuses a copy with one byte changed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlspec.backends import code_files
from mlspec.backends.airflow import AirflowBackend
from mlspec.compiler import analyze_file
from mlspec.runtime import code, embed

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
BACKEND = AirflowBackend()
NOT_BESIDE = "from the worker's path: its package 'breast_cancer' is not beside the spec"


def mine(diagnostics: list) -> list[tuple[int, int, str]]:
    """This module's diagnostics (the MS302 of code delivery) as (line, col, start)."""
    words = ("its package", "code.git", "code.wheels")
    return [
        (d.span.line, d.span.col, d.message[:40])
        for d in diagnostics
        if d.code == "MS302" and any(w in d.message for w in words)
    ]


def spec_in(folder: Path, text: str | None = None, *, package: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "pipeline.yaml"
    spec.write_text(text if text is not None else (FLAGSHIP / "pipeline.yaml").read_text())
    if package:
        shutil.copytree(FLAGSHIP / "breast_cancer", folder / "breast_cancer")
    return spec


def line_of(spec: Path, start: str) -> int:
    lines = spec.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(start))


# ---- the check ------------------------------------------------------------------------------


def test_a_package_beside_the_spec_says_nothing() -> None:
    pipeline = analyze_file(FLAGSHIP / "pipeline.yaml").pipeline
    assert mine(BACKEND.check(pipeline)) == []


def test_a_package_not_beside_the_spec_is_ms302_at_each_step(tmp_path: Path) -> None:
    spec = spec_in(tmp_path, package=False)
    diagnostics = BACKEND.check(analyze_file(spec).pipeline)
    found = [d for d in diagnostics if NOT_BESIDE in d.message]
    assert [(d.span.line, d.span.col) for d in found] == [
        (line_of(spec, f"  {step}:"), 3) for step in ("ingest", "train", "evaluate")
    ]
    assert {d.severity for d in found} == {"warning"}
    assert "name its distribution 'breast_cancer' in `packages:`" in (found[0].hint or "")


def test_a_package_named_in_packages_says_nothing(tmp_path: Path) -> None:
    text = (FLAGSHIP / "pipeline.yaml").read_text()
    text = text.replace(
        "packages: [scikit-learn>=1.5]", "packages: [scikit-learn>=1.5, breast-cancer]"
    )
    spec = spec_in(tmp_path, text, package=False)
    assert mine(BACKEND.check(analyze_file(spec).pipeline)) == []


def test_code_git_and_wheels_are_ms302_once_where_they_are_set(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    text = (
        (FLAGSHIP / "pipeline.yaml")
        .read_text()
        .replace(
            "  retries: 1\n",
            "  retries: 1\n"
            "  code:\n"
            "    wheels: https://wheels.example.com/ml\n"
            f"    git: {{url: 'https://git.example.com/ml.git', commit: '{commit}'}}\n",
        )
    )
    spec = spec_in(tmp_path, text)
    diagnostics = [d for d in BACKEND.check(analyze_file(spec).pipeline) if d.code == "MS302"]
    git = [d for d in diagnostics if "code.git" in d.message]
    wheels = [d for d in diagnostics if "code.wheels" in d.message]
    assert [d.span.line for d in git] == [line_of(spec, "    git:")]
    assert [d.span.line for d in wheels] == [line_of(spec, "  code:")]
    for d in (*git, *wheels):
        assert d.severity == "warning"
        assert "placed beside the DAG by `mlspec deploy`" in d.message


# ---- the pinned copy, checked by the runtime beside the DAG ---------------------------------


def place(spec: Path, dags: Path) -> tuple[str, str]:
    """The compiled DAG's folder, as `mlspec deploy` writes it; (runtime, code) folder names."""
    pipeline = analyze_file(spec).pipeline
    for artifact in BACKEND.emit(pipeline):
        path = dags / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(artifact.text, encoding="utf-8")
    [package] = code_files.packages(pipeline)
    [runtime] = [p.name for p in dags.iterdir() if p.name.startswith(embed.PACKAGE_PREFIX)]
    return runtime, code_files.folder(package)


IMPORT = """\
import importlib, sys
runtime, folder, digest = sys.argv[1:]
sys.path.insert(0, '.')
importlib.import_module(runtime + '.code').use_package(folder, 'breast_cancer', digest)
import breast_cancer.steps
print(breast_cancer.steps.__file__)
"""


def import_from(dags: Path, runtime: str, folder: str, digest: str) -> subprocess.CompletedProcess:
    """The shipped runtime's check and import, in `python -I` (no PYTHONPATH, no user site)."""
    assert str(ROOT) not in str(dags)
    return subprocess.run(
        [sys.executable, "-I", "-c", IMPORT, runtime, str(dags / folder), digest],
        cwd=dags,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def placed(tmp_path: Path) -> tuple[Path, str, str, str]:
    spec = spec_in(tmp_path / "project")
    dags = tmp_path / "dags"
    runtime, folder = place(spec, dags)
    [package] = code_files.packages(analyze_file(spec).pipeline)
    return dags, runtime, folder, package.digest


def test_the_runtime_hashes_the_placed_copy_to_the_compilers_digest(
    placed: tuple[Path, str, str, str],
) -> None:
    dags, runtime, folder, digest = placed
    assert folder == f"mlspec_code_{digest[:12]}"
    assert code.digest(code.folder_files(str(dags / folder), "breast_cancer")) == digest
    done = import_from(dags, runtime, folder, digest)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dags / folder / "breast_cancer" / "steps.py")


def test_one_byte_changed_in_the_placed_copy_fails_closed(
    placed: tuple[Path, str, str, str],
) -> None:
    dags, runtime, folder, digest = placed
    steps = dags / folder / "breast_cancer" / "steps.py"
    data = bytearray(steps.read_bytes())
    data[-2] ^= 0x01  # one byte, in the last line
    steps.write_bytes(bytes(data))
    done = import_from(dags, runtime, folder, digest)
    assert done.returncode == 1
    assert (
        f"RuntimeError: mlspec: the step package 'breast_cancer' in {dags / folder} is not the "
        f"code this pipeline was compiled with (its files hash to "
    ) in done.stderr
    assert f"the pipeline pins {digest[:12]}): deploy the compiled folder as a whole" in (
        done.stderr
    )
    assert "breast_cancer/steps.py" not in done.stdout  # nothing was imported


def test_a_dag_copied_without_its_package_folder_fails_closed(
    placed: tuple[Path, str, str, str],
) -> None:
    dags, _, folder, digest = placed
    shutil.rmtree(dags / folder)
    with pytest.raises(RuntimeError) as caught:
        code.use_package(str(dags / folder), "breast_cancer", digest)
    assert str(caught.value) == (
        f"mlspec: the step package 'breast_cancer' is not beside the pipeline: {dags / folder} "
        "is missing; deploy the compiled folder as a whole (mlspec deploy places it), or compile "
        "again"
    )


def test_mlspec_run_puts_the_spec_folder_on_the_path_only_for_a_package_not_beside_it(
    tmp_path: Path,
) -> None:
    """`mlspec run --target airflow` sets PYTHONPATH to the spec's folder only then: the
    flagship's steps import the pinned copy beside the DAG (test_airflow_engine.py runs it)."""
    assert not code_files.imports_from_path(analyze_file(FLAGSHIP / "pipeline.yaml").pipeline)
    spec = spec_in(tmp_path, package=False)
    assert code_files.imports_from_path(analyze_file(spec).pipeline)
