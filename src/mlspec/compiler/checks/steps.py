"""Parameters, defaults and steps: their types, what steps read and wait for, placeholders."""

from __future__ import annotations

from mlspec.compiler import fanout
from mlspec.compiler.checks.base import NO_LOOPS, Checker
from mlspec.compiler.fields import PLACEHOLDER_OK, PLACEHOLDER_RE
from mlspec.compiler.source import PathKey
from mlspec.compiler.spec import MAX_FOR_EACH
from mlspec.names import suggest


def check_params(c: Checker) -> None:
    for name, param in c.spec.params.items():
        value = param.default
        if param.type.startswith("list["):
            _check_list_default(c, name, param.type, value)
            continue
        ok = {
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
        }[param.type]
        if not ok:
            hint = {
                "str": 'quote it for a str param: "..."',
                "bool": "write true or false (YAML 1.2 reads yes/no/on/off as strings)",
                "int": "write a whole number, or declare the param as float",
            }.get(param.type)
            c.error(
                ("params", name, "default"),
                "MS223",
                f"default {value!r} of parameter {name!r} does not match its type {param.type}",
                hint,
            )


def check_defaults(c: Checker) -> None:
    for env_name, entry in c.spec.defaults.env.items():
        if entry.param is not None:
            c.param_type(entry.param, ("defaults", "env", env_name), f"env {env_name}")


def check_steps(c: Checker) -> None:
    for name in c.spec.steps:
        _check_step(c, name)


def _check_step(c: Checker, name: str) -> None:
    spec = c.spec
    step = spec.steps[name]
    base: PathKey = ("steps", name)
    for input_name, binding in step.inputs.items():
        path = (*base, "inputs", input_name)
        what = f"input {input_name!r} of step {name!r}"
        if binding.from_ is not None:
            ref_path = (*path, "from") if c.source.has((*path, "from")) else path
            if binding.from_.split(".")[0] == name:
                c.error(
                    ref_path,
                    "MS220",
                    f"step {name!r} reads its own output in {what}",
                    NO_LOOPS,
                )
                continue
            actual = c.output_type(binding.from_, ref_path, what)
        elif binding.item:
            actual = _item_type(c, step.for_each)
        else:
            actual = _constant_type(binding.value)
        if binding.type is not None and actual is not None and not _accepts(binding.type, actual):
            c.error(
                (*path, "type"),
                "MS210",
                f"{what} is declared {binding.type} but receives {actual}",
                f"declare it as {actual}, or wire another output",
            )
    for i, dep in enumerate(step.after):
        if dep not in spec.steps and dep not in spec.gates:
            c.error(
                (*base, "after", i),
                "MS201",
                f"unknown step or gate {dep!r} in 'after' of step {name!r}",
                suggest(dep, [*spec.steps, *spec.gates]),
            )
        elif dep == name:
            c.error((*base, "after", i), "MS220", f"step {name!r} waits for itself", NO_LOOPS)
    for env_name, entry in step.env.items():
        if entry.param is not None:
            c.param_type(entry.param, (*base, "env", env_name), f"env {env_name}")
    if step.container is not None:
        if step.image is None and spec.defaults.image is None:
            c.error(
                base,
                "MS225",
                f"container step {name!r} has no image",
                "set 'image' on the step, or 'defaults.image'",
                key=True,
            )
        lines = [("command", step.container.command), ("args", step.container.args)]
        for part, texts in lines:
            for i, text in enumerate(texts):
                _check_placeholders(c, name, text, (*base, "container", part, i))


def _check_placeholders(c: Checker, step_name: str, text: str, path: PathKey) -> None:
    step = c.spec.steps[step_name]
    for match in PLACEHOLDER_RE.finditer(text):
        inner = match.group(1)
        ok = PLACEHOLDER_OK.fullmatch(inner)
        if not ok:
            c.error(
                path,
                "MS224",
                f"unknown placeholder ${{{inner}}} in step {step_name!r}",
                "placeholders are ${inputs.NAME} and ${outputs.NAME}",
            )
            continue
        group, name = ok.groups()
        names = step.inputs if group == "inputs" else step.outputs
        if name not in names:
            c.error(
                path,
                "MS224",
                f"${{{inner}}}: step {step_name!r} has no {group[:-1]} {name!r}",
                suggest(name, names) or f"declare it under '{group}'",
            )


def _item_type(c: Checker, items: fanout.ForEach | None) -> str | None:
    """The type `item` has (None: no list, a mixed one, or a parameter that is no list, which
    checks.fanout reports)."""
    if items is None:
        return None
    param = fanout.list_param(items)
    if param is not None:
        declared = c.spec.params.get(param)
        ok = declared is not None and declared.type.startswith("list[")
        return fanout.item_type(c.spec, items) if ok else None
    if len({type(i) for i in items}) != 1:
        return None
    return fanout.item_type(c.spec, items)


def _constant_type(value: object) -> str:
    return {bool: "bool", int: "int", float: "float"}.get(type(value), "str")


def _accepts(declared: str, actual: str) -> bool:
    return (
        declared == actual
        or (declared == "float" and actual == "int")
        or (declared == "artifact" and actual in ("dataset", "model", "metrics", "artifact"))
    )


def _check_list_default(c: Checker, name: str, kind: str, value: object) -> None:
    """A list parameter's default: a list of its element type, as for_each takes it."""
    element = kind[len("list[") : -1]
    numbers = (int, float) if element == "float" else (int,)
    allowed: tuple[type, ...] = (str,) if element == "str" else numbers

    def fits(v: object) -> bool:
        return isinstance(v, allowed) and not isinstance(v, bool)

    if not isinstance(value, list) or not value or not all(fits(v) for v in value):
        c.error(
            ("params", name, "default"),
            "MS223",
            f"default {value!r} of parameter {name!r} is not a non-empty {kind}",
            f"write a list of {element} values, e.g. [eu, us]"
            if element == "str"
            else f"write a list of {element} values, e.g. [1, 2]",
        )
    elif len(value) > MAX_FOR_EACH:
        c.error(
            ("params", name, "default"),
            "MS223",
            f"default of list parameter {name!r} has {len(value)} elements, more than "
            f"{MAX_FOR_EACH}",
            "a loop runs at most 1,000 iterations: split the list, or batch elements",
        )
    elif repeated := sorted({str(v) for v in value if value.count(v) > 1}):
        c.error(
            ("params", name, "default"),
            "MS223",
            f"default of list parameter {name!r} repeats {', '.join(repeated)}",
            "list each element once: each runs the loop once",
        )
