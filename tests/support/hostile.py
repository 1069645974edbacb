"""A spec whose every free-text field holds a string built to break out of generated code.

Quotes of every kind, backslashes, line breaks (also U+2028), Jinja expressions, statements and
comments, and a Python call: if any of it became code in a generated file, the file's syntax
tree would change, and Airflow's renderer would evaluate the Jinja. Tests of every target that
writes Python feed this spec through and compare with the same spec made harmless.
"""

from __future__ import annotations

import json

HOSTILE = (
    "x'\"\"\" ''' \\ \n{{ 7*7 }} {% if 1 %}y{% endif %} {# c #} "
    "__import__('os').system('id') \u2028 }} {"
)
HARMLESS = "plain text"
# `packages` take PEP 508 requirements only (MS121): this one carries markup and shell
# characters in its marker, where PEP 508 and mlspec allow them.
PACKAGE = 'hostile-steps; platform_machine != "{{ 7*7 }} {% if 1 %} x;y|z&&w (v)*?~#<>"'


def spec(text: str = HOSTILE) -> str:
    """The spec with `text` in every free-text field (labels are Kubernetes-checked: harmless;
    packages are requirements: PACKAGE)."""
    document = {
        "apiVersion": "mlspec/v1",
        "kind": "Pipeline",
        "metadata": {
            "name": "hostile",
            "version": "1.0.0",
            "description": text,
            "owners": [text],
            "labels": {"team": "safe"},
        },
        "artifact_root": "/tmp/" + text,
        "params": {
            "p": {"type": "str", "default": text, "description": text},
            "t": {"type": "float", "default": 0.5},
        },
        "steps": {
            "make": {
                "python": "hostile_steps:make",
                "description": text,
                "inputs": {"a": {"value": text}, "b": "params.p"},
                "outputs": {"data": "dataset", "score": "float", "model": "model"},
                "env": {"E": text},
                "packages": [PACKAGE],
            },
            "run": {
                "image": "busybox:1.36",
                "container": {
                    "command": [text, "${inputs.a}"],
                    "args": [text + "${inputs.s}" + text, "${outputs.o}", "$${inputs.a}"],
                },
                "inputs": {"a": {"value": text}, "s": "params.p", "d": "make.data"},
                "outputs": {"o": "dataset"},
                "env": {"F": text},
            },
        },
        "gates": {
            "g": {
                "description": text,
                "dataset": "make.data",
                "checks": [
                    {"columns": {text: "str"}},
                    {"categories": {"column": text, "allowed": [text]}},
                    {
                        "drift": {
                            "column": text,
                            "reference_uri": "/tmp/" + text,
                            "method": "psi",
                            "max": 0.2,
                        }
                    },
                    {"null_fraction": {"columns": [text, "b"], "max": 0.1}},
                    {"range": {"pattern": text, "min": 0}},  # a valid Python regex, too
                ],
            },
            "m": {"require": [{"metric": "make.score", "min": "params.t"}]},
        },
        "registry": {
            "mlflow": {"registered_model": "m", "tracking_uri": "http://" + text},
            "model": "make.model",
            "tags": {"k": text},
            "promote": [{"alias": "a", "after": ["g", "m"]}],
        },
    }
    return json.dumps(document, indent=1)  # JSON is YAML; the escapes keep it on safe lines


def _json_strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | {s for v in value.values() for s in _json_strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _json_strings(v)}
    return set()


def module_strings(source: str) -> set[str]:
    """Every string a generated module holds: its literals, and the strings in its JSON data."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
            if node.value.startswith("\n{"):
                found |= _json_strings(json.loads(node.value))
    return found


def module_data(source: str) -> dict[str, object]:
    """The module-level data assignments (literals, or `json.loads` of a literal), by name."""
    import ast

    data: dict[str, object] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if isinstance(value, ast.Call) and ast.unparse(value.func) == "json.loads":
            data[node.targets[0].id] = json.loads(ast.literal_eval(value.args[0]))
        else:
            try:
                data[node.targets[0].id] = ast.literal_eval(value)
            except ValueError:
                continue
    return data
