"""Read a notebook step's file beside the spec, validate it and pin it by a hash of its bytes.

What is read here is what every target ships (a file beside the DAG or flow, a text in the
Kubeflow component), so the digest in the compiled output names exactly the notebook that runs.
Validation is Jupyter's own (nbformat's schema), so that a broken notebook fails at compile
time, at the spec's `notebook:` line, rather than on the cluster.
"""

from __future__ import annotations

import hashlib
import posixpath

import nbformat

from mlspec.compiler import ir
from mlspec.compiler.code import PackageFiles, PackageProblem
from mlspec.diagnostics import Diagnostic, Span, SpecError

# A Kubeflow component carries the notebook as text in the pipeline's IR, which KFP
# installations refuse beyond a few MiB in all; clear a notebook's outputs to shrink it.
MAX_NOTEBOOK_BYTES = 1024 * 1024


def read_notebook(files: PackageFiles, path: str, span: Span) -> ir.Notebook:
    """The notebook at `path` (relative to the spec's folder); raises SpecError at `span`:
    MS106 when it is missing or not a valid Python notebook, MS107 when it is too large."""
    folder, name = posixpath.split(path)
    try:
        found = files(folder or ".", name)
    except PackageProblem as problem:
        raise _error(span, "MS106", str(problem), problem.hint) from None
    if not found:
        raise _error(
            span,
            "MS106",
            f"notebook {path!r} not found beside the spec",
            "give its path relative to the spec's folder, e.g. notebooks/train.ipynb",
        )
    content = found[0][1]
    data = content if isinstance(content, bytes) else content.read_bytes()
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise _error(
            span,
            "MS107",
            f"notebook {path!r} is {len(data):,} bytes, more than {MAX_NOTEBOOK_BYTES >> 20} MiB",
            "clear its outputs (jupyter nbconvert --clear-output --inplace) and load data from "
            "datasets: every target ships the notebook as text",
        )
    invalid = _invalid(data)
    if invalid is not None:
        raise _error(
            span,
            "MS106",
            f"notebook {path!r} is not a valid notebook: {invalid}",
            "save it from Jupyter (nbformat 4), or check it with `jupyter nbconvert --to notebook`",
        )
    return ir.Notebook(path, hashlib.sha256(data).hexdigest(), data.decode("utf-8"))


def _invalid(data: bytes) -> str | None:
    """Why `data` is not a notebook a python3 kernel runs, or None."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except (UnicodeDecodeError, nbformat.ValidationError) as exc:
        return str(exc).splitlines()[0]
    except Exception as exc:  # nbformat.reads raises what json or its readers raise
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}"
    language = notebook.metadata.get("kernelspec", {}).get("language", "python")
    if language != "python":
        return f"its kernel's language is {language!r}; notebook steps run the python3 kernel"
    return None


def _error(span: Span, code: str, message: str, hint: str | None) -> SpecError:
    return SpecError([Diagnostic(span, code, message, hint)])
