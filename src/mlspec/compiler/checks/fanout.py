"""Fan-out (`for_each`): the list itself (MS226), `item` (MS227), references between fanned
steps (MS228), and what reads a fanned step's output from outside the steps (MS229)."""

from __future__ import annotations

from mlspec.compiler import fanout
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.source import PathKey
from mlspec.names import target_key

PER_ITEM = "a step with the same for_each list reads the same element's output"


def check_fanout(c: Checker) -> None:
    spec = c.spec
    lists = {n: s.for_each for n, s in spec.steps.items() if s.for_each is not None}
    good = {n: items for n, items in lists.items() if _check_list(c, n, items)}
    if good:
        _check_copy_names(c, good)
    for name, step in spec.steps.items():
        base: PathKey = ("steps", name)
        for input_name, binding in step.inputs.items():
            path = (*base, "inputs", input_name)
            if binding.item and step.for_each is None:
                c.error(
                    path,
                    "MS227",
                    f"input {input_name!r} of step {name!r} reads 'item', but the step has no "
                    "for_each",
                    "add for_each: [...] to the step, or pass a constant with {value: ...}",
                )
            source = (binding.from_ or "").partition(".")[0]
            if source in lists and step.for_each is not None and lists[source] != step.for_each:
                at = (*path, "from") if c.source.has((*path, "from")) else path
                c.error(
                    at,
                    "MS228",
                    f"step {name!r} and step {source!r} fan out over different lists, so input "
                    f"{input_name!r} has no element of its own to read",
                    f"give both the same for_each ({PER_ITEM}), or read it from a step without "
                    "for_each, which gets the collected list",
                )
            elif source in lists and step.container is not None and step.for_each is None:
                c.error(
                    path,
                    "MS229",
                    f"container step {name!r} cannot collect the outputs of fanned step {source!r}",
                    "collect them in a python step (it receives a list), or fan this step out "
                    "with the same for_each",
                )
    _check_outside_readers(c, lists)


def _check_list(c: Checker, name: str, items: list[fanout.Item]) -> bool:
    at: PathKey = ("steps", name, "for_each")
    kinds = {type(i) for i in items}
    if len(kinds) > 1:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        c.error(
            at,
            "MS226",
            f"the for_each list of step {name!r} mixes {names}",
            "write every element as one type (quote numbers to make them strings)",
        )
        return False
    repeated = sorted({str(i) for i in items if items.count(i) > 1})
    if repeated:
        c.error(
            at,
            "MS226",
            f"the for_each list of step {name!r} repeats {', '.join(repeated)}",
            "list each element once: each runs the step once",
        )
        return False
    return True


def _check_copy_names(c: Checker, lists: dict[str, list[fanout.Item]]) -> None:
    """A copy's name (`features__eu`) must not be, on any target, another step's or gate's."""
    taken = {target_key(n): n for n in [*c.spec.steps, *c.spec.gates]}
    for name, items in lists.items():
        for copy in fanout.copy_names(name, items):
            other = taken.get(target_key(copy))
            if other is not None:
                c.error(
                    ("steps", name, "for_each"),
                    "MS226",
                    f"step {name!r} runs element {copy.rpartition('__')[2]!r} as {copy!r}, "
                    f"which collides with step or gate {other!r} on some target",
                    "rename one of the steps",
                )
            taken[target_key(copy)] = copy


def _check_outside_readers(c: Checker, lists: dict[str, list[fanout.Item]]) -> None:
    """Gates and the registry read one output; a fanned step has one per element."""
    spec = c.spec
    found: list[tuple[PathKey, str]] = []
    for gate_name, gate in spec.gates.items():
        base: PathKey = ("gates", gate_name)
        if gate.dataset:
            found.append(((*base, "dataset"), gate.dataset))
        for i, requirement in enumerate(gate.require or ()):
            found.append(((*base, "require", i, "metric"), requirement.metric))
        if gate.serve is not None:
            found.append(((*base, "serve", "model"), gate.serve.model))
    registry = spec.registry
    if registry is not None:
        found.append((("registry", "model"), registry.model))
        if registry.reference:
            found.append((("registry", "reference"), registry.reference))
    for path, ref in found:
        step = ref.partition(".")[0]
        if step in lists:
            c.error(
                path,
                "MS229",
                f"{ref!r} is an output of fanned step {step!r}: one per element of its for_each",
                "read the output of a step without for_each that collects them (it receives the "
                "list) and gates or registers one result; per-element gates are not supported "
                "yet",
            )
