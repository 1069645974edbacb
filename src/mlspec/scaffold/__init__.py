"""`mlspec init`: a new project that `mlspec validate`, `mlspec run` and pytest accept as it is.

The files are templates in `files/` (`*.tmpl`), filled in with `string.Template` (`$name`,
`$package`): a spec, its step module (standard library only, so the first run installs
nothing), a test of the steps, a pre-commit config, a GitHub Actions workflow and the JSON
Schema that the spec's modeline names, for editors.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from mlspec.compiler.fields import DNS_LABEL_RE
from mlspec.schema import json_schema

SCHEMA_FILE = "mlspec.schema.json"

# Template file -> the path it is written to ($package is the step package's name).
FILES = {
    "pipeline.yaml": "pipeline.yaml",
    "steps.py": "$package/steps.py",
    "package_init.py": "$package/__init__.py",
    "test_steps.py": "tests/test_steps.py",
    "pre-commit-config.yaml": ".pre-commit-config.yaml",
    "github-workflow.yml": ".github/workflows/mlspec.yml",
    "gitignore": ".gitignore",
    "README.md": "README.md",
}


class InitError(Exception):
    """The project cannot be created there; nothing was written."""


def names(folder: Path) -> tuple[str, str]:
    """(pipeline name, package name) derived from the folder's name."""
    base = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")[:50] or "pipeline"
    if not base[0].isalpha():
        base = "ml-" + base
    assert DNS_LABEL_RE.match(base)
    return base, base.replace("-", "_") + "_steps"


def create(folder: Path) -> list[Path]:
    """Write the project into `folder` (new or empty); the written paths, relative to it."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InitError(f"{folder} exists and is not an empty folder; choose a new one")
    name, package = names(folder)
    values = {"name": name, "package": package}
    texts = {}
    for template, target in FILES.items():
        source = resources.files(__package__).joinpath("files", template + ".tmpl")
        texts[Template(target).substitute(values)] = Template(
            source.read_text(encoding="utf-8")
        ).substitute(values)
    texts[SCHEMA_FILE] = json_schema()
    written = []
    for relative, text in sorted(texts.items()):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(Path(relative))
    return written
