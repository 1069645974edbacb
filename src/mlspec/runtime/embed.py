"""The runtime modules as files that generated pipelines carry: a package named by its content.

Generated artifacts never import mlspec (they run where only the orchestrator and the user's
code are installed), so each target ships the runtime modules it needs as a package of real
files: Airflow and Prefect beside the DAG or flow, a Kubeflow component in a temporary folder it
writes them to. A traceback then names the module's file and shows its line. The package is
named after a hash of its files (`mlspec_runtime_<hash>`): two pipelines compiled by different
mlspec versions in one folder never share a name unless they share every byte. This module is
the only place that builds it; it is not itself shipped.
"""

from __future__ import annotations

import ast
import hashlib
import io
import sys
import tokenize
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Every module that generated pipelines may carry, in dependency order.
RUNTIME_MODULES = ("report", "datachecks", "gates", "registry", "steps", "tasks", "cache")
# What shipped code may import besides the standard library.
ALLOWED_THIRD_PARTY = frozenset({"mlflow", "pyarrow"})
PACKAGE_PREFIX = "mlspec_runtime_"
# Airflow's dag processor reads every *.py file below its DAG folder that might hold a DAG; this
# file in the package folder tells it to skip the folder's files. `[!.]*` matches every module
# under both of its syntaxes: as a glob (a name not starting with a dot) and as a regexp (searched
# for, it matches anywhere).
AIRFLOW_IGNORE = ".airflowignore"
_AIRFLOW_IGNORE_TEXT = "# mlspec's runtime: Python modules, not DAG files\n[!.]*\n"


class EmbedError(Exception):
    """The runtime source breaks a rule that makes it safe to ship."""


@dataclass(frozen=True)
class Package:
    name: str  # mlspec_runtime_<hash>: an identifier, the package's folder name
    files: tuple[tuple[str, str], ...]  # (file name inside the folder, text), sorted


@cache
def module_source(name: str) -> str:
    return resources.files("mlspec.runtime").joinpath(f"{name}.py").read_text(encoding="utf-8")


@cache
def needed_modules(entries: tuple[str, ...]) -> tuple[str, ...]:
    """The modules that `entries` need, in dependency order.

    An entry is a module ("tasks") or one function of it ("steps:data_gate_step"): a function
    counts the module's top-level imports and its own, a module every import in it.
    """
    wanted: set[str] = set()
    todo = list(entries)
    while todo:
        module, _, function = todo.pop().partition(":")
        if module not in RUNTIME_MODULES:
            raise EmbedError(f"{module!r} is not a runtime module")
        if module in wanted and not function:
            continue
        wanted.add(module)
        todo += sorted(_relative_imports(module, function) - wanted)
    return tuple(m for m in RUNTIME_MODULES if m in wanted)


def _relative_imports(module: str, function: str) -> set[str]:
    """The runtime modules that `module` imports; of a function, those its code and the module's
    top level import, following the module's functions that it calls."""
    tree = ast.parse(module_source(module))
    if not function:
        return _imports_in([tree])
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if function not in functions:
        raise EmbedError(f"runtime module {module} has no function {function}")
    used: set[str] = set()
    todo = [function]
    while todo:
        name = todo.pop()
        used.add(name)
        called = {n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name)}
        todo += sorted((called & functions.keys()) - used)
    top = [n for n in tree.body if not isinstance(n, ast.FunctionDef) and not _typing_only(n)]
    return _imports_in([*top, *(functions[name] for name in used)])


def _typing_only(node: ast.stmt) -> bool:
    """`if TYPE_CHECKING:`: imports for the type checker, never run."""
    return isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"


def _imports_in(scopes: list[ast.AST]) -> set[str]:
    names: set[str] = set()
    for scope in scopes:
        for node in ast.walk(scope):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                names.add(node.module)
    return names


@cache
def package(modules: tuple[str, ...], *, compact: bool = False) -> Package:
    """The package of `modules`, checked; `compact`: without docstrings and comments (for KFP
    IR, where every byte counts against the size that installations accept)."""
    files = [("__init__.py", _INIT)]
    for name in modules:
        text = module_source(name)
        files.append((f"{name}.py", _compact(text) if compact else text))
    problems = [p for file, text in files for p in check_module(file, text)]
    if problems:
        raise EmbedError("; ".join(problems))
    digest = hashlib.sha256()
    for file, text in sorted(files):
        digest.update(f"{file}\0{text}\0".encode())
    return Package(f"{PACKAGE_PREFIX}{digest.hexdigest()[:12]}", tuple(sorted(files)))


def folder_files(pkg: Package, *, airflow: bool = False) -> list[tuple[str, str]]:
    """The package as files beside a pipeline: (path relative to the pipeline's folder, text)."""
    files = [(f"{pkg.name}/{file}", text) for file, text in pkg.files]
    if airflow:
        files.append((f"{pkg.name}/{AIRFLOW_IGNORE}", _AIRFLOW_IGNORE_TEXT))
    return sorted(files)


_INIT = '"""mlspec\'s runtime, shipped with a generated pipeline. Generated: edit the spec."""\n'


def imported_modules(text: str) -> set[str]:
    """Top-level names of every module that `text` imports absolutely, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def check_module(file: str, text: str) -> list[str]:
    """Shipped code imports the standard library, mlflow, pyarrow and its own package only."""
    problems = [
        f"{file} imports {name}, which is neither standard library nor "
        f"{sorted(ALLOWED_THIRD_PARTY)}"
        for name in sorted(imported_modules(text) - {"__future__"})
        if name not in sys.stdlib_module_names and name not in ALLOWED_THIRD_PARTY
    ]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.level > 1:
            problems.append(f"{file} imports from outside its package (line {node.lineno})")
    return problems


def _compact(source: str) -> str:
    """The module without docstrings, comments and blank lines: the same code, fewer bytes."""
    tree = ast.parse(source)
    drop: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or len(body) < 2:  # a lone docstring is the body
            continue
        first = body[0]
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            drop.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    comments: dict[int, int] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.start[1]
    lines: list[str] = []
    for number, line in enumerate(source.splitlines(), 1):
        if number in drop:
            continue
        if number in comments:
            line = line[: comments[number]].rstrip()
        if line.strip():
            lines.append(line)
    text = "\n".join(lines) + "\n"
    if ast.dump(_without_docstrings(ast.parse(text))) != ast.dump(_without_docstrings(tree)):
        raise EmbedError("compacting changed the code")
    return text


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and len(body) > 1:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                del body[0]
    return tree
