"""Helpers for tests of generated files and of runs: compiling elsewhere, code shape, registry."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlspec.backends import code_files
from mlspec.backends.base import Artifact
from mlspec.runtime import embed

ORCHESTRATORS = ("airflow", "kubernetes", "kfp", "prefect", "prefect_kubernetes")


def compile_in(folder: Path, spec: Path, target: str, *args: str, **env: str) -> dict[str, bytes]:
    """`mlspec compile SPEC --target TARGET -o out ARGS` of a copy of the spec's folder (its step
    modules beside it) at `folder`, in a fresh process whose environment has `env` set
    (PYTHONHASHSEED, TZ, LC_ALL: each left at Python's default unless given): {file: bytes}."""
    shutil.copytree(spec.parent, folder)
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "TZ", "LC_ALL")}
    command = ["compile", spec.name, "--target", target, "-o", "out", *args]
    result = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", *command],
        cwd=folder,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return written(folder / "out")


def written(out: Path) -> dict[str, bytes]:
    """What `mlspec compile -o out` wrote: {file: bytes}, without its own manifest."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != ".mlspec-manifest"
    }


# What a date or a time looks like in any format: digits, or a month's or a weekday's name.
_DATE_OR_TIME = re.compile(
    r"\d+|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun)",
    re.IGNORECASE,
)


def dates_and_times(text: str, known: tuple[str, ...]) -> list[str]:
    """What could be a date or a time in `text` once the `known` parts (a version, a path, a
    name) are taken out: a generated file's header must not depend on when it was written."""
    for part in known:
        text = text.replace(part, "")
    return _DATE_OR_TIME.findall(text)


def without_rollout(artifacts: list[Artifact]) -> list[Artifact]:
    """A pipeline target's own files: not the rollout manifests it writes under rollout/, nor
    the runtime package beside a DAG or flow."""
    return [a for a in artifacts if not is_beside(a.path)]


def is_beside(path: str) -> bool:
    """A rollout manifest, or a file of the runtime package or of a pinned step package."""
    return path.startswith(("rollout/", embed.PACKAGE_PREFIX, code_files.PREFIX))


def orchestrators_imported_by_compile(spec: Path, target: str, out: Path) -> list[str]:
    """The orchestrator modules a fresh process has imported after compiling `spec`."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from mlspec.cli import main\n"
        f"r = CliRunner().invoke(main, ['compile', {str(spec)!r}, '-t', {target!r}, "
        f"'-o', {str(out)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ORCHESTRATORS!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return ast.literal_eval(result.stdout.strip())


def shape(source: str) -> str:
    """A module's syntax tree with every string constant blanked: the code, without data."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = "S"
    return ast.dump(tree)


def registry_state(uri: str, model: str) -> tuple[list[str], dict[str, str]]:
    """A registered model's versions and aliases in a registry ([], {} when it has none)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if not client.search_registered_models():
        return [], {}
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name = '{model}'"))
    aliases = client.get_registered_model(model).aliases
    return versions, {alias: str(version) for alias, version in aliases.items()}
