"""The Jinja environment that renders generated Python files (Airflow DAGs, Prefect flows).

Templates hold the fixed code; every variable part must be a `pysource.Code` built from the IR.
`finalize` refuses anything else, so a template that prints a raw spec string fails loudly in
mlspec's own tests instead of writing that string into code.
"""

from __future__ import annotations

from functools import cache

import jinja2

from mlspec import __version__
from mlspec.backends.pysource import Code, comment, identifier, json_block, literal
from mlspec.compiler import ir


def _only_code(value: object) -> Code:
    if isinstance(value, Code):
        return value
    raise TypeError(
        f"a template printed {type(value).__name__} {value!r:.60}: print Code only "
        "(`|py` for a literal, `|ident` for a name)"
    )


@cache
def environment(package: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined,
        finalize=_only_code,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["py"] = literal
    env.filters["ident"] = identifier
    env.filters["json"] = json_block
    return env


def render(package: str, template: str, **context: object) -> str:
    return environment(package).get_template(template).render(**context)


def module_context(pipeline: ir.Pipeline) -> dict[str, object]:
    """What every generated Python module starts with: its header and its settings."""
    registry = pipeline.registry
    return {
        "version": comment(__version__),
        "spec_file": comment(pipeline.spec_path),
        "pipeline_name": comment(f"{pipeline.name} {pipeline.version}"),
        "pipeline": pipeline.name,
        "spec_version": pipeline.version,
        "artifact_root": pipeline.artifact_root,
        "tracking_uri": registry.tracking_uri if registry else None,
        "registered_model": registry.registered_model if registry else None,
        "containers": any(s.kind == "container" for s in pipeline.steps),
    }
