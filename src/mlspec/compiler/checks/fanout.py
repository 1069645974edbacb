"""Loops (`for_each`): the list (MS226, MS234), `item` (MS227), reads between loops (MS228),
and what needs one value where a loop has one per element (MS229)."""

from __future__ import annotations

from mlspec.compiler import fanout
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.dependencies import dependency_edges, find_cycles
from mlspec.compiler.source import PathKey

# The list type a loop over a parameter of this type would need (there is no list[bool]).
LIST_OF = {"str": "str", "int": "int", "float": "float"}
PER_ITEM = "a step with the same for_each reads the same element's output"


def check_fanout(c: Checker) -> None:
    spec = c.spec
    lists = {n: s.for_each for n, s in spec.steps.items() if s.for_each is not None}
    for name, items in lists.items():
        _check_list(c, name, items)
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
            if source not in lists:
                continue
            at = (*path, "from") if c.source.has((*path, "from")) else path
            if step.for_each is not None and not fanout.same_list(lists[source], step.for_each):
                c.error(
                    at,
                    "MS228",
                    f"step {name!r} and step {source!r} fan out over different lists, so input "
                    f"{input_name!r} has no element of its own to read",
                    f"give both the same for_each ({PER_ITEM}), or read it from a step without "
                    "for_each, which gets the collected list",
                )
            elif step.container is not None and step.for_each is None:
                kind = spec.steps[source].outputs.get(_source_output(binding.from_))
                if kind in ("dataset", "model", "metrics", "artifact"):
                    c.error(
                        at,
                        "MS229",
                        f"container step {name!r} cannot collect the {kind} outputs of fanned "
                        f"step {source!r}: a command line holds values, not a list of files",
                        "collect them in a python step (it receives the list of paths), or fan "
                        "this step out with the same for_each",
                    )
    _check_gates(c, lists)
    _check_one_value_readers(c, lists)
    _check_loops_close(c)


def _source_output(reference: str | None) -> str:
    return (reference or "").partition(".")[2]


def _check_list(c: Checker, name: str, items: fanout.ForEach) -> None:
    at: PathKey = ("steps", name, "for_each")
    param = fanout.list_param(items)
    if param is not None:
        kind = c.param_type(param, at, f"for_each of step {name!r}", for_each=True)
        if kind is not None and not kind.startswith("list["):
            c.error(
                at,
                "MS234",
                f"for_each of step {name!r} names parameter {param!r} of type {kind}",
                f'declare it as a list: {param}: {{type: "list[{LIST_OF.get(kind, "str")}]", '
                "default: [...]} (quoted: YAML reads [ ] in a {...} mapping as a list)",
            )
        return
    assert not isinstance(items, str)
    kinds = {type(i) for i in items}
    if len(kinds) > 1:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        c.error(
            at,
            "MS226",
            f"the for_each list of step {name!r} mixes {names}",
            "write every element as one type (quote numbers to make them strings)",
        )
        return
    repeated = sorted({str(i) for i in items if items.count(i) > 1})
    if repeated:
        c.error(
            at,
            "MS226",
            f"the for_each list of step {name!r} repeats {', '.join(repeated)}",
            "list each element once: each runs the step once",
        )


def _check_gates(c: Checker, lists: dict[str, fanout.ForEach]) -> None:
    """A gate that judges a fanned step's output is judged per element (a per-item gate): it
    reads one loop, compares with no registry alias, and serves no model."""
    for gate_name, gate in c.spec.gates.items():
        base: PathKey = ("gates", gate_name)
        seen: fanout.ForEach | None = None
        for path, ref in fanout.gate_reads(gate, base):
            step = ref.partition(".")[0]
            if step not in lists:
                continue
            if path[2] == "serve":
                why, hint = (
                    "a serving gate serves one model",
                    "serve the model of a step without for_each that picks one",
                )
            elif seen is not None and not fanout.same_list(seen, lists[step]):
                why, hint = (
                    "the gate already judges a loop over another list",
                    f"give the steps the same for_each ({PER_ITEM})",
                )
            elif path[2] == "require" and gate.require and gate.require[int(path[3])].vs:
                why, hint = (
                    "a per-item gate does not compare with a registry alias",
                    "compare the collected result (a step without for_each) with the alias",
                )
            else:
                seen = lists[step]
                continue
            c.error(path, "MS229", f"{ref!r} is an output of fanned step {step!r}: {why}", hint)


def _check_one_value_readers(c: Checker, lists: dict[str, fanout.ForEach]) -> None:
    """The registry registers one model, and compares with one reference."""
    registry = c.spec.registry
    if registry is None:
        return
    found: list[tuple[PathKey, str]] = [(("registry", "model"), registry.model)]
    if registry.reference:
        found.append((("registry", "reference"), registry.reference))
    for path, ref in found:
        step = ref.partition(".")[0]
        if step in lists:
            c.error(
                path,
                "MS229",
                f"{ref!r} is an output of fanned step {step!r}: one per element of its for_each",
                "register the output of a step without for_each that collects them (it "
                "receives the list) and picks one",
            )


def _check_loops_close(c: Checker) -> None:
    """A loop runs as one block: nothing it waits for may wait for the loop itself (a step
    outside that collects a member's outputs and feeds another member). Checked once the
    graph has no cycle of its own (MS220). Reported at the reference that closes the circle."""
    edges = dependency_edges(c.spec)
    graph = {node: list(dict.fromkeys(d for d, _ in found)) for node, found in edges.items()}
    if find_cycles(graph):
        return
    loops = fanout.loops(c.spec, graph)
    unit = {member: members[0] for members in loops for member in members}
    condensed: dict[str, dict[str, None]] = {}  # ordered sets: each wait once
    for node, deps in graph.items():
        u = unit.get(node, node)
        waits = condensed.setdefault(u, {})
        waits.update(dict.fromkeys(w for d in deps if (w := unit.get(d, d)) != u))
    for cycle in find_cycles({u: list(w) for u, w in condensed.items()}):
        members = next(ms for ms in loops if ms[0] in cycle)
        waited = cycle[cycle.index(members[0]) + 1]  # what the loop waits for, on the circle
        member, outside, path = next(
            (m, dep, path)
            for m in members
            for dep, path in edges[m]
            if unit.get(dep, dep) == waited
        )
        c.error(
            path,
            "MS228",
            f"{member!r} runs in the loop of {', '.join(repr(m) for m in members)} and waits "
            f"for {outside!r}, which waits for the loop's collected outputs: the loop would "
            "wait for itself",
            f"move {outside!r} into the loop (give it the same for_each), or read the loop's "
            "outputs only after it",
        )
