"""Notebook steps at run time: a real nbclient and python3 kernel (ipykernel) run each notebook.

Inputs are injected after the `parameters` cell as literals (hostile text stays text), scalar
outputs are read back from the notebook's variables and checked, and the executed notebook is
kept, with the error, when a cell fails. The engines: tests/backends/test_notebook_engines.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mlspec.runtime.notebook import INJECTED_TAG, inject, run_notebook

HOSTILE = "it's \"quoted\" ''' \\ {x} ${y}\n$(id); __import__('os').system('false')"


def _notebook(*cells: str, tagged: int | None = 0) -> str:
    made = [new_code_cell(c) for c in cells]
    if tagged is not None:
        made[tagged].metadata["tags"] = ["parameters"]
    return nbformat.writes(new_notebook(cells=[new_markdown_cell("# demo"), *made]))


def test_inputs_are_injected_after_the_parameters_cell_once() -> None:
    notebook = nbformat.reads(_notebook("a = 1", "b = a"), as_version=4)
    inject(notebook, {"a": 2})
    inject(notebook, {"a": 3})  # an executed notebook runs again as it was written
    sources = [c.source for c in notebook.cells]
    assert sources == ["# demo", "a = 1", "# Parameters\na = 3", "b = a"]
    assert notebook.cells[2].metadata["tags"] == [INJECTED_TAG]


def test_without_a_parameters_cell_the_values_come_first() -> None:
    notebook = nbformat.reads(_notebook("b = a", tagged=None), as_version=4)
    inject(notebook, {"a": 1.5, "flag": True, "nan": float("nan")})
    assert notebook.cells[0].source == "# Parameters\na = 1.5\nflag = True\nnan = float('nan')"


def test_scalars_are_read_back_and_hostile_text_stays_text(tmp_path: Path) -> None:
    text = _notebook(
        "label = ''\nrows = 0\nout = ''",
        "import json\nwith open(out, 'w') as f:\n    json.dump({'label': label}, f)\n"
        "count = rows * 2\nratio = count / 4\nok = count > 1\nechoed = label",
    )
    executed = tmp_path / "step" / "notebook.ipynb"
    out = tmp_path / "step" / "out.json"
    found = run_notebook(
        text,
        "notebooks/demo.ipynb",
        {"label": HOSTILE, "rows": 3, "out": str(out)},
        {"count": "int", "ratio": "float", "ok": "bool", "echoed": "str"},
        str(executed),
    )
    assert found == {"count": 6, "ratio": 1.5, "ok": True, "echoed": HOSTILE}
    assert json.loads(out.read_text()) == {"label": HOSTILE}
    kept = nbformat.read(executed, as_version=4)
    assert [c.get("metadata", {}).get("tags") for c in kept.cells][2] == [INJECTED_TAG]
    assert all(c.get("execution_count") for c in kept.cells if c.cell_type == "code")
    assert "MLSPEC-OUTPUTS" not in executed.read_text()  # the read-back cell is not kept


def test_an_int_is_a_float_output(tmp_path: Path) -> None:
    found = run_notebook(_notebook("x = 3"), "n.ipynb", {}, {"x": "float"}, str(tmp_path / "e"))
    assert found == {"x": 3.0} and isinstance(found["x"], float)


@pytest.mark.parametrize(
    ("cell", "kind", "message"),
    [
        ("y = 1", "float", "notebook n.ipynb defines no variable 'x': assign the step's output x"),
        (
            "x = '0.9'",
            "float",
            "n.ipynb: output 'x' must be a float, but the notebook's variable is a str",
        ),
        ("x = True", "int", "output 'x' must be a int, but the notebook's variable is a bool"),
        ("x = 1", "bool", "output 'x' must be a bool, but the notebook's variable is a int: 1"),
        (
            "x = object()",
            "str",
            "output 'x' must be a str, but the notebook's variable is a object",
        ),
    ],
)
def test_a_missing_or_mistyped_output_fails_the_step(
    tmp_path: Path, cell: str, kind: str, message: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        run_notebook(_notebook(cell), "n.ipynb", {}, {"x": kind}, str(tmp_path / "e.ipynb"))


def test_a_failing_cell_fails_the_step_and_its_notebook_is_kept(tmp_path: Path) -> None:
    executed = tmp_path / "notebook.ipynb"
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run_notebook(_notebook("d = 0", "1 / d", "after = 1"), "n.ipynb", {}, {}, str(executed))
    kept = nbformat.read(executed, as_version=4)
    errors = [o for c in kept.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ZeroDivisionError"]
    assert kept.cells[-1].get("execution_count") is None  # the cells after it never ran


def test_without_the_engine_the_step_says_what_to_install(tmp_path: Path) -> None:
    """A worker without the `notebook` extra: this interpreter without its site-packages."""
    code = "from mlspec.runtime.notebook import run_notebook as r\nr('{}', 'n.ipynb', {}, {}, 'e')"
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={"PYTHONPATH": str(src)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "RuntimeError: notebook n.ipynb: notebook steps run with nbclient and ipykernel (the "
        "python3 kernel) in the environment that runs the step: pip install nbclient==0.11.0 "
        "ipykernel==7.4.0 (mlspec's `notebook` extra)"
    )
