"""Run a notebook step: inject its inputs, execute it headless, read its scalar outputs back.

Runtime module: generated pipelines carry it (standard library at the top; nbformat and nbclient,
mlspec's `notebook` extra, imported when a notebook runs). The calling convention is a Python
step's, said in notebook terms, and papermill's conventions where it has one:
- every input (a run parameter, a constant, an upstream scalar, an artifact's path) and every
  artifact output's path becomes a variable, assigned in a cell tagged `injected-parameters`
  right after the cell tagged `parameters` (else first), so the notebook's own defaults there
  are overridden; values are Python literals (`repr`), never code made from their text;
- each scalar output is the notebook's global variable of that name once every cell ran (a
  numpy scalar counts as its Python value); a missing or wrong-typed one fails the step;
- the executed notebook, with its outputs (and the error, when a cell failed), is written to
  `executed_path` whether the run succeeded or not.
The kernel is `python3`: ipykernel in the worker's own environment.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from typing import Any

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
EXECUTED = "notebook.ipynb"  # the executed notebook, among the step's files
KERNEL = "python3"
_MARKER = "MLSPEC-OUTPUTS "
# Prints the scalar outputs as JSON; run after the notebook's cells and then dropped from it.
_READ_BACK = """print({marker!r} + __import__('json').dumps(
    {{n: globals()[n] for n in {names!r} if n in globals()}},
    default=lambda v: v.item() if hasattr(v, 'item') else {{'mlspec_type': type(v).__name__}},
))"""


def literal(value: Any) -> str:
    """`value` as Python source: a literal, whatever text it holds."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    raise TypeError(f"cannot inject a {type(value).__name__} into a notebook")


def inject(notebook: Any, values: dict[str, Any]) -> None:
    """Put the cell assigning `values` after the `parameters` cell (replacing one injected
    before: an executed notebook runs again as it was written)."""
    import nbformat

    cells = [c for c in notebook.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", ())]
    source = "\n".join(["# Parameters", *(f"{k} = {literal(v)}" for k, v in values.items())])
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    tagged = [i for i, c in enumerate(cells) if PARAMETERS_TAG in c.metadata.get("tags", ())]
    cells.insert(tagged[0] + 1 if tagged else 0, cell)
    notebook.cells = cells


def run_notebook(
    text: str, where: str, values: dict[str, Any], scalars: dict[str, str], executed_path: str
) -> dict[str, Any]:
    """Execute notebook `text` (`where`: its path in the spec, for messages) with `values`
    injected; return its scalar outputs `scalars` ({name: type}), checked."""
    if any(importlib.util.find_spec(m) is None for m in ("nbclient", "ipykernel")):
        raise RuntimeError(
            f"notebook {where}: notebook steps run with nbclient and ipykernel (the python3 "
            "kernel) in the environment that runs the step: pip install nbclient==0.11.0 "
            "ipykernel==7.4.0 (mlspec's `notebook` extra)"
        )
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.reads(text, as_version=4)
    inject(notebook, values)
    folder = os.path.dirname(os.path.abspath(executed_path))
    os.makedirs(folder, exist_ok=True)
    client = NotebookClient(
        notebook, kernel_name=KERNEL, timeout=None, resources={"metadata": {"path": folder}}
    )
    found: dict[str, Any] = {}
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            if scalars:
                found = _read_back(client, notebook, sorted(scalars))
    finally:
        nbformat.write(notebook, executed_path)
    return {name: _checked(where, name, kind, found) for name, kind in scalars.items()}


def _read_back(client: Any, notebook: Any, names: list[str]) -> dict[str, Any]:
    import nbformat

    cell = nbformat.v4.new_code_cell(_READ_BACK.format(marker=_MARKER, names=names))
    notebook.cells.append(cell)
    try:
        client.execute_cell(cell, len(notebook.cells) - 1, store_history=False)
    finally:
        notebook.cells.pop()
    for output in cell.outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith(_MARKER):
                return dict(json.loads(line[len(_MARKER) :]))
    raise RuntimeError("the notebook's kernel did not report its outputs")


_TYPES: dict[str, tuple[type, ...]] = {"float": (int, float), "int": (int,), "bool": (bool,)}


def _checked(where: str, name: str, kind: str, found: dict[str, Any]) -> Any:
    """The variable `name` as the spec's type `kind` says, or a TypeError that says why not."""
    if name not in found:
        raise TypeError(
            f"notebook {where} defines no variable {name!r}: assign the step's output "
            f"{name} ({kind}) in a cell"
        )
    value = found[name]
    wanted = _TYPES.get(kind, (str,))
    if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
        shown = value["mlspec_type"] if isinstance(value, dict) and "mlspec_type" in value else None
        got = shown or type(value).__name__
        raise TypeError(
            f"notebook {where}: output {name!r} must be a {kind}, but the notebook's "
            f"variable is a {got}" + ("" if shown else f": {value!r}")
        )
    return float(found[name]) if kind == "float" else value
