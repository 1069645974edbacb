"""Turning the runtime modules into source text that generated pipelines embed.

Generated artifacts never import mlspec (they run where only the orchestrator and the user's
code are installed), so back ends paste `bundle()` into the files they write: the runtime
modules concatenated in dependency order, their imports of each other removed. This module is
the only place that does it; it is not itself embedded.
"""

from __future__ import annotations

import ast
import sys
from importlib import resources

# Dependency order: a module may use names of the modules before it.
GATE_MODULES = ("report", "datachecks", "gates", "registry", "steps")
# `tasks` holds the task bodies of targets whose tasks run in a Python worker (Airflow, Prefect).
RUNTIME_MODULES = (*GATE_MODULES, "tasks")
# What embedded code may import besides the standard library.
ALLOWED_THIRD_PARTY = frozenset({"mlflow", "pyarrow"})


class EmbedError(Exception):
    """The runtime source breaks a rule that makes it safe to embed."""


def module_source(name: str) -> str:
    return resources.files("mlspec.runtime").joinpath(f"{name}.py").read_text(encoding="utf-8")


def bundle(modules: tuple[str, ...] = RUNTIME_MODULES) -> str:
    """One self-contained module text: standard library, mlflow and pyarrow imports only."""
    what = "task bodies, gates" if "tasks" in modules else "gates"
    # No version here: a generated file names its generator once, in its header, so that a
    # release changes one line of it (the KFP IR embeds this text once per gate).
    parts = [
        f'"""mlspec runtime: {what}, data checks and promotion, embedded by mlspec.'
        '\n\nGenerated; edit the spec, not this code."""\n',
        "from __future__ import annotations\n",
    ]
    for name in modules:
        parts.append(f"\n# ---- mlspec.runtime.{name} " + "-" * (70 - len(name)) + "\n")
        parts.append(_without_internal_imports(module_source(name), name))
    text = "".join(parts)
    problems = check_bundle(text)
    if problems:
        raise EmbedError("; ".join(problems))
    return text


def _without_internal_imports(source: str, name: str) -> str:
    """Drop the module docstring, `from __future__` and `from mlspec.runtime... import`."""
    tree = ast.parse(source)
    drop: set[int] = set()
    for node in tree.body:
        is_docstring = (
            node is tree.body[0]
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        internal = isinstance(node, ast.ImportFrom) and (
            node.module == "__future__" or (node.module or "").startswith("mlspec.runtime")
        )
        if is_docstring or internal:
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    for node in ast.walk(tree):
        module = None
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
        elif isinstance(node, ast.Import):
            module = node.names[0].name
        if module and module.startswith("mlspec") and node.lineno not in drop:
            raise EmbedError(f"runtime module {name} imports {module} in a way the bundle cannot")
    lines = source.splitlines(keepends=True)
    kept = [line for number, line in enumerate(lines, 1) if number not in drop]
    return "".join(kept).strip("\n") + "\n"


def imported_modules(text: str) -> set[str]:
    """Top-level names of every module that `text` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def check_bundle(text: str) -> list[str]:
    problems = [
        f"imports {name}, which is neither standard library nor {sorted(ALLOWED_THIRD_PARTY)}"
        for name in sorted(imported_modules(text))
        if name not in sys.stdlib_module_names and name not in ALLOWED_THIRD_PARTY
    ]
    seen: dict[str, int] = {}
    for node in ast.parse(text).body:
        names: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        for n in names:
            if n in seen:
                problems.append(f"{n!r} is defined twice (lines {seen[n]} and {node.lineno})")
            seen[n] = node.lineno
    return problems


def function_source(
    name: str, entry: str, parameters: list[str], modules: tuple[str, ...] = RUNTIME_MODULES
) -> str:
    """A self-contained function `name(**parameters)` calling runtime function `entry`.

    For targets that embed one function's source, such as KFP lightweight components: the
    bundle travels inside it as a string literal and is executed in a private namespace.
    """
    for identifier in (name, entry, *parameters):
        if not identifier.isidentifier():
            raise EmbedError(f"{identifier!r} is not an identifier")
    signature = ", ".join(parameters)
    call = ", ".join(f"{p}={p}" for p in parameters)
    return (
        f"def {name}({signature}):\n"
        f"    import sys, types\n"
        f"    runtime = types.ModuleType('mlspec_runtime')\n"
        f"    sys.modules['mlspec_runtime'] = runtime  # dataclasses look their module up\n"
        f"    exec(compile({bundle(modules)!r}, '<mlspec-runtime>', 'exec'), runtime.__dict__)\n"
        f"    return runtime.{entry}({call})\n"
    )
