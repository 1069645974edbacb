"""Loops: a step with `for_each` runs once per element of a list, written in the spec or given
as a list parameter when the run starts.

Fanned steps that depend on each other over the same list, and the gates that judge their
outputs (per-item gates), run as one loop (ir.Loop): element by element, each iteration reading
its own outputs. Every engine runs a loop natively (a KFP ParallelFor, an Airflow mapped task
group, Prefect map). Outside its loop, a step reads a member's output as the list of every
iteration's (ir.FanIn), in the order of the elements.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import spec as s
from mlspec.compiler.source import PathKey

Item = int | float | str
ForEach = list[Item] | str  # a static list, or `params.NAME`


def same_list(a: ForEach, b: ForEach) -> bool:
    """The same list, element for element and type for type (1, 1.0 and "1" differ)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return [(type(i), i) for i in a] == [(type(i), i) for i in b]


def list_param(for_each: ForEach) -> str | None:
    """The list parameter a loop runs over, if it is one."""
    return for_each.partition(".")[2] if isinstance(for_each, str) else None


def item_type(spec: s.Spec, for_each: ForEach) -> str:
    """The spec type of the elements (one type: MS226, MS223)."""
    param = list_param(for_each)
    if param is not None:
        return spec.params[param].type[len("list[") : -1]
    assert not isinstance(for_each, str)
    return {int: "int", float: "float", str: "str"}[type(for_each[0])]


def gate_reads(gate: s.Gate, base: PathKey) -> Iterator[tuple[PathKey, str]]:
    """The step outputs a gate reads, each with the spec path that names it: what it judges,
    a drift check's reference, a threshold read from a step, a serving gate's requests."""
    if gate.dataset:
        yield (*base, "dataset"), gate.dataset
    for i, check in enumerate(gate.checks or ()):
        if check.drift is not None and check.drift.reference:
            yield (*base, "checks", i, "drift", "reference"), check.drift.reference
    for i, requirement in enumerate(gate.require or ()):
        yield (*base, "require", i, "metric"), requirement.metric
        for bound in ("min", "max"):
            value = getattr(requirement, bound)
            if isinstance(value, str) and not value.startswith("params."):
                yield (*base, "require", i, bound), value
    if gate.serve is not None:
        yield (*base, "serve", "model"), gate.serve.model
        if gate.serve.requests.dataset:
            yield (*base, "serve", "requests", "dataset"), gate.serve.requests.dataset


def fanned(spec: s.Spec) -> dict[str, ForEach]:
    """Every node that runs per element, with its list: fanned steps, and gates that judge a
    fanned step's output (the first one's list; checks.fanout refuses a mix)."""
    found: dict[str, ForEach] = {n: st.for_each for n, st in spec.steps.items() if st.for_each}
    for name, gate in spec.gates.items():
        for _, ref in gate_reads(gate, ("gates", name)):
            step = spec.steps.get(ref.partition(".")[0])
            if step is not None and step.for_each is not None:
                found[name] = step.for_each
                break
    return found


def loops(spec: s.Spec, graph: dict[str, list[str]]) -> list[list[str]]:
    """The loops: fanned nodes joined when one waits for another over the same list (steps
    and gates, spec order within a loop; loops in the order of their first member)."""
    lists = fanned(spec)
    order = {name: i for i, name in enumerate([*spec.steps, *spec.gates])}
    parent = {name: name for name in lists}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for name in lists:
        for dep in graph.get(name, ()):
            if dep in lists and same_list(lists[name], lists[dep]):
                parent[root(name)] = root(dep)
    groups: dict[str, list[str]] = {}
    for name in sorted(lists, key=order.__getitem__):
        groups.setdefault(root(name), []).append(name)
    return sorted(groups.values(), key=lambda members: order[members[0]])
