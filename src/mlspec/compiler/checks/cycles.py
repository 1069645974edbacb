"""Dependency cycles (MS220), each reported at the reference that closes it."""

from __future__ import annotations

from itertools import pairwise

from mlspec.compiler.checks.base import NO_LOOPS, Checker
from mlspec.compiler.dependencies import dependency_edges, dependency_graph, find_cycles
from mlspec.diagnostics import Span


def check_cycles(c: Checker) -> None:
    edges = dependency_edges(c.spec)
    graph = dependency_graph(c.spec)

    def place(node: str) -> Span:
        return c.source.key_span(("steps" if node in c.spec.steps else "gates", node))

    for cycle in find_cycles(graph):
        # Every cycle has a node that waits for one written below it: that reference closes
        # the cycle for a reader going down the file (the first such one, if several).
        hops = list(pairwise(cycle))
        waiter, waited = min(
            ((a, b) for a, b in hops if place(b) > place(a)), key=lambda hop: place(hop[0])
        )
        start = cycle.index(waiter)
        path = [*cycle[start:-1], *cycle[:start], waiter]
        ref = next(p for dep, p in edges[waiter] if dep == waited)
        c.error(
            ref,
            "MS220",
            f"dependency cycle: {' -> '.join(path)} (each waits for the next); this "
            f"reference makes {waiter!r} wait for {waited!r}",
            NO_LOOPS,
        )
