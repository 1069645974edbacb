"""The Jinja environment that renders generated Python files (Airflow DAGs, Prefect flows).

Templates hold the fixed code; every variable part must be a `pysource.Code` built from the IR.
`finalize` refuses anything else, so a template that prints a raw spec string fails loudly in
mlspec's own tests instead of writing that string into code.
"""

from __future__ import annotations

from functools import cache

import jinja2

from mlspec.backends.pysource import Code, identifier, json_block, literal


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
