"""A notebook step as a lightweight component: the notebook and the runtime's notebook runner
travel as texts in its source; it installs the engine (the pins of mlspec's notebook extra).

The component writes the runner to a temporary file, imports it and runs the notebook by the
calling convention of runtime/notebook.py; the executed notebook is its extra output artifact
EXECUTED_OUTPUT. The notebook's text is a plain string literal: it never becomes code here.
"""

from __future__ import annotations

from mlspec.backends.kubeflow.plan import Parameter, returns, signature, value_code
from mlspec.backends.pysource import literal, text_block
from mlspec.compiler import ir
from mlspec.runtime import embed

# What runs a notebook where the component runs: the `notebook` extra's pins (pyproject.toml).
NOTEBOOK_PACKAGES = ("nbclient==0.11.0", "ipykernel==7.4.0")
EXECUTED_OUTPUT = "mlspec_executed_notebook"


def notebook_step_source(
    step: ir.Step, parameters: tuple[Parameter, ...], scalars: tuple[tuple[str, str], ...]
) -> str:
    notebook = step.notebook
    assert notebook is not None
    runner = dict(embed.component_package(("notebook:run_notebook",)).files)["notebook.py"]
    artifacts = {i.name for i in step.inputs if i.is_artifact}
    artifacts |= {o.name for o in step.outputs if o.is_artifact}
    values = ", ".join(f"{p.name!r}: {value_code(p, p.name in artifacts)}" for p in parameters)
    every = (*parameters, Parameter(EXECUTED_OUTPUT, "Output[Artifact]", None))
    lines = [
        f"def {step.name}({signature(every)}){returns(scalars)}:",
        "    import importlib.util",
        "    import os",
        "    import tempfile",
        "",
        f"    _mlspec_runner = {text_block(runner)}",
        f"    _mlspec_notebook = {literal(notebook.text)}",
        "    _mlspec_folder = tempfile.mkdtemp(prefix='mlspec-')",
        "    _mlspec_file = os.path.join(_mlspec_folder, 'mlspec_notebook.py')",
        "    with open(_mlspec_file, 'w', encoding='utf-8') as handle:",
        "        handle.write(_mlspec_runner)",
        "    _mlspec_spec = importlib.util.spec_from_file_location('notebook', _mlspec_file)",
        "    _mlspec_module = importlib.util.module_from_spec(_mlspec_spec)",
        "    _mlspec_spec.loader.exec_module(_mlspec_module)",
        "    _mlspec_result = _mlspec_module.run_notebook(",
        "        _mlspec_notebook,",
        f"        {literal(notebook.path)},",
        f"        {{{values}}},",
        f"        {literal(dict(scalars))},",
        f"        {EXECUTED_OUTPUT}.path,",
        "    )",
    ]
    if scalars:
        names = tuple(name for name, _ in scalars)
        lines.append(f"    return tuple(_mlspec_result[n] for n in {names!r})")
    return "\n".join(lines) + "\n"
