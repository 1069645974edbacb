"""Which step or gate waits for which, read from the spec: the graph the cycle check
(checks/cycles.py) walks and the lowering (lower.py) orders tasks by."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler.source import PathKey
from mlspec.compiler.spec import Spec


def dependency_edges(spec: Spec) -> dict[str, list[tuple[str, PathKey]]]:
    """Node -> (a node it waits for, the reference that makes it wait), in spec order.

    Nodes are step and gate names. A reference's path may end in a key the spec does not have
    (`from` of a shorthand input): `Source.span` then falls back to the value that is there.
    """
    edges: dict[str, list[tuple[str, PathKey]]] = {}
    gated = {g.dataset: n for n, g in spec.gates.items() if g.dataset is not None}
    for name, step in spec.steps.items():
        base: PathKey = ("steps", name)
        found: list[tuple[str, PathKey]] = []
        for input_name, binding in step.inputs.items():
            if binding.from_ and not binding.from_.startswith("params."):
                path = (*base, "inputs", input_name, "from")
                found.append((binding.from_.split(".")[0], path))
                if binding.from_ in gated:
                    found.append((gated[binding.from_], path))
        found += [(dep, (*base, "after", i)) for i, dep in enumerate(step.after)]
        edges[name] = found
    for name, gate in spec.gates.items():
        base = ("gates", name)
        refs: list[tuple[object, PathKey]] = [(gate.dataset, (*base, "dataset"))]
        for i, check in enumerate(gate.checks or ()):
            if check.drift is not None:
                refs.append((check.drift.reference, (*base, "checks", i, "drift", "reference")))
        for i, req in enumerate(gate.require or ()):
            refs += [(getattr(req, f), (*base, "require", i, f)) for f in ("metric", "min", "max")]
        if gate.serve is not None:
            refs.append((gate.serve.model, (*base, "serve", "model")))
            refs.append((gate.serve.requests.dataset, (*base, "serve", "requests", "dataset")))
        edges[name] = [
            (ref.split(".")[0], path)
            for ref, path in refs
            if isinstance(ref, str) and ref and not ref.startswith("params.")
        ]
    return {
        node: [(dep, path) for dep, path in found if dep in edges and dep != node]
        for node, found in edges.items()
    }


def dependency_graph(spec: Spec) -> dict[str, list[str]]:
    """Node -> the nodes it waits for; nodes are step and gate names, in spec order."""
    return {
        node: list(dict.fromkeys(dep for dep, _ in found))
        for node, found in dependency_edges(spec).items()
    }


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected group, each as a path that returns to its start."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in graph:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(dep) == 1:
                cycle = path[path.index(dep) :]
                cycles.append([*cycle, dep])
            elif not state.get(dep):
                state[dep] = 1
                path.append(dep)
                stack.append((dep, iter(graph[dep])))
    return cycles
