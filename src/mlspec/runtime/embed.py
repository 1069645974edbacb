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
from typing import cast

# Every module that generated pipelines may carry, in dependency order.
RUNTIME_MODULES = (
    "report",
    "datachecks",
    "gates",
    "registry",
    "lineage",
    "rollback",
    "quality",
    "serving",
    "monitor",
    "steps",
    "code",
    "notebook",
    "tasks",
    "cache",
    "watch",
)
# What shipped code may import besides the standard library.
ALLOWED_THIRD_PARTY = frozenset({"mlflow", "pyarrow", "nbformat", "nbclient"})
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


def _imports_type_checking_only(node: ast.AST) -> bool:
    """`from typing import TYPE_CHECKING`, which compact modules no longer use."""
    return (
        isinstance(node, ast.ImportFrom)
        and node.module == "typing"
        and [a.name for a in node.names] == ["TYPE_CHECKING"]
    )


def _typing_only(node: ast.AST) -> bool:
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
    texts = [(name, module_source(name)) for name in modules]
    return _checked([(name, _compact(text) if compact else text) for name, text in texts], compact)


@cache
def component_package(entries: tuple[str, ...]) -> Package:
    """What a KFP component carries to run `entries`: their modules, compact, with only the
    top-level functions that the entries reach (calls, imports, the modules' top level)."""
    modules = needed_modules(entries)
    texts = {name: _compact(module_source(name)) for name in modules}
    kept = _reached(entries, texts)
    return _checked(
        [
            (name, _without_functions(text, set(_functions(text)) - kept[name]))
            for name, text in texts.items()
        ],
        True,
    )


def _checked(texts: list[tuple[str, str]], compact: bool) -> Package:
    files = [("__init__.py", "" if compact else _INIT)]
    files += [(f"{name}.py", text) for name, text in texts]
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


_INIT = "# mlspec's runtime, shipped with a generated pipeline\n"


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
    """The module without docstrings, comments, blank lines and the annotations of function
    signatures (`from __future__ import annotations` never evaluates them): the same code in
    fewer bytes."""
    tree = ast.parse(source)
    text = _without_signature_annotations(source, tree)
    drop: set[int] = set()
    passes: dict[int, str] = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.stmt) and (_typing_only(node) or _imports_type_checking_only(node)):
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        first = _docstring(_body(node))
        if first is not None:
            drop.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
        lone = _lone_docstring(node)
        if lone is not None:  # the body: `pass` instead
            passes[lone.lineno] = " " * lone.col_offset + "pass"
            drop.update(range(lone.lineno + 1, (lone.end_lineno or lone.lineno) + 1))
    comments: dict[int, int] = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.start[1]
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if number in drop:
            continue
        line = passes.get(number, line)
        if number in comments:
            line = line[: comments[number]].rstrip()
        if line.strip():
            lines.append(line)
    compact = _single_quoted(_one_line_signatures("\n".join(lines) + "\n"))
    if ast.dump(_stripped(ast.parse(compact))) != ast.dump(_stripped(tree)):
        raise EmbedError("compacting changed the code")
    return compact


def _functions(text: str) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}


def _reached(entries: tuple[str, ...], texts: dict[str, str]) -> dict[str, set[str]]:
    """Per module, the top-level functions that `entries` (and every module's top level,
    which runs on import) reach by name or by a relative import."""
    functions = {module: _functions(text) for module, text in texts.items()}

    def references(module: str, node: ast.AST) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in functions[module]:
                found.append((module, n.id))
            elif isinstance(n, ast.ImportFrom) and n.level == 1 and n.module in functions:
                found += [(n.module, a.name) for a in n.names if a.name in functions[n.module]]
        return found

    todo = [(module, function) for module, _, function in (e.partition(":") for e in entries)]
    for module, text in texts.items():
        todo += [
            ref
            for node in ast.parse(text).body
            if not isinstance(node, ast.FunctionDef)
            for ref in references(module, node)
        ]
    kept: dict[str, set[str]] = {module: set() for module in texts}
    while todo:
        module, name = todo.pop()
        if not name:  # a whole module
            todo += [(module, f) for f in functions[module]]
        elif name not in kept[module]:
            kept[module].add(name)
            todo += references(module, functions[module][name])
    return kept


def _without_functions(text: str, names: set[str]) -> str:
    """`text` (a compact module: no decorators) without the top-level functions `names`."""
    drop: set[int] = set()
    for name, node in _functions(text).items():
        if name in names:
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines = text.splitlines(keepends=True)
    pruned = "".join(line for number, line in enumerate(lines, 1) if number not in drop)
    expected = ast.parse(text)
    expected.body = [
        n for n in expected.body if not (isinstance(n, ast.FunctionDef) and n.name in names)
    ]
    if ast.dump(ast.parse(pruned)) != ast.dump(expected):
        raise EmbedError("leaving out unused functions changed the code")
    return pruned


def _single_quoted(text: str) -> str:
    """One-line string literals in single quotes where that needs no escape: KFP's IR holds the
    module in a YAML double-quoted scalar, which escapes every double quote."""
    found: list[tuple[int, int, int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type != tokenize.STRING or token.start[0] != token.end[0]:
            continue
        quoted = token.string.lstrip("bBrRuU")
        prefix = token.string[: len(token.string) - len(quoted)]
        if not quoted.startswith('"') or quoted.startswith('"""'):
            continue  # single-quoted, triple-quoted or an f-string (prefix f: not stripped)
        body = token.string[len(prefix) + 1 : -1]
        if "'" not in body and "\\" not in body:
            found.append((token.start[0], token.start[1], token.end[1], f"{prefix}'{body}'"))
    lines = text.splitlines(keepends=True)
    for number, start, end, literal in reversed(found):
        line = lines[number - 1]
        lines[number - 1] = line[:start] + literal + line[end:]
    return "".join(lines)


def _body(node: ast.AST) -> list[ast.stmt]:
    body = getattr(node, "body", None)
    return body if isinstance(body, list) else []


def _lone_docstring(node: ast.AST) -> ast.Expr | None:
    """A docstring that is its block's only statement, on lines of its own."""
    body = _body(node)
    if len(body) != 1 or not _is_text(body[0]) or body[0].lineno == getattr(node, "lineno", 0):
        return None
    return cast(ast.Expr, body[0])


def _is_text(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _docstring(body: list[ast.stmt]) -> ast.Expr | None:
    """A docstring that is not its body's only statement (that one becomes `pass`)."""
    if len(body) < 2 or not _is_text(body[0]):
        return None
    return cast(ast.Expr, body[0])


def _without_signature_annotations(source: str, tree: ast.Module) -> str:
    """`source` without `: type` of parameters and `-> type` of functions (cut by position)."""
    data = source.encode("utf-8")  # ast columns count UTF-8 bytes
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column

    cuts: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            name_end = offset(node.lineno, node.col_offset) + len(node.arg.encode("utf-8"))
            annotation = node.annotation
            stop = offset(
                annotation.end_lineno or annotation.lineno, annotation.end_col_offset or 0
            )
            if data[stop : stop + 3] == b" = ":  # `x: int = 1` becomes `x=1`, as without type
                cuts += [(name_end, stop + 1), (stop + 2, stop + 3)]
            else:
                cuts.append((name_end, stop))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            returns = node.returns
            arrow = data.rindex(b"->", 0, offset(returns.lineno, returns.col_offset))
            while data[arrow - 1 : arrow] == b" ":
                arrow -= 1
            cuts.append(
                (arrow, offset(returns.end_lineno or returns.lineno, returns.end_col_offset or 0))
            )
    for start, end in sorted(cuts, reverse=True):
        data = data[:start] + data[end:]
    return data.decode("utf-8")


def _one_line_signatures(text: str) -> str:
    """Signatures that ruff wrapped for their annotations, on one line again where they fit."""
    lines = text.splitlines()
    for node in sorted(ast.walk(ast.parse(text)), key=_line, reverse=True):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first, last = node.lineno - 1, node.body[0].lineno - 2  # the header's lines
        if last <= first:
            continue
        joined = lines[first].rstrip()
        for part in (line.strip() for line in lines[first + 1 : last + 1]):
            if part.startswith(")"):
                joined = joined.removesuffix(",") + part
            else:
                joined += part if joined.endswith("(") else " " + part
        if len(joined) <= 99:
            lines[first : last + 1] = [joined]
    return "\n".join(lines) + "\n"


def _line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


def _stripped(tree: ast.Module) -> ast.Module:
    """The tree without what `_compact` leaves out."""
    for node in ast.walk(tree):
        body = _body(node)
        body[:] = [n for n in body if not (_typing_only(n) or _imports_type_checking_only(n))]
        first = _docstring(body)
        if first is not None:
            body.remove(first)
        if _lone_docstring(node) is not None:
            body[:] = [ast.Pass()]
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
    return tree
