"""Where each task sits: its order of creation and the `dsl.If` blocks around it.

A task runs under the gates it waits for and every gate its inputs ran under. KFP nests
condition blocks and forbids a task to depend on one inside a block it is not in, so each task's
gates, in the order the gate tasks are created, must extend the gates of everything it reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mlspec.backends import lineage
from mlspec.backends.kubeflow.gates import gate_plan, promotion_plan
from mlspec.backends.kubeflow.monitor import monitor_plan
from mlspec.backends.kubeflow.plan import Plan
from mlspec.backends.kubeflow.steps import step_plan
from mlspec.backends.kubeflow.tracking import lineage_plan, track_plan
from mlspec.compiler import ir
from mlspec.runtime.lineage import LINEAGE_TASK, TRACK_TASK


@dataclass(frozen=True)
class Placed:
    plan: Plan
    gates: tuple[str, ...]  # the dsl.If blocks around it, outermost first


@dataclass(frozen=True)
class Layout:
    tasks: tuple[Placed, ...]  # in creation order
    problems: tuple[tuple[Plan, str], ...]  # (task, why it cannot be placed)


def plans(
    pipeline: ir.Pipeline, recorded: list[ir.Step] | None = None
) -> list[tuple[Plan, tuple[str, ...]]]:
    """Every task with the gates it waits for directly, in declaration order; a tracked
    pipeline's TRACK_TASK first (every root step waits for it) and LINEAGE_TASK last, reading
    the `recorded` steps (default: all)."""
    if pipeline.monitor is not None:
        return [(monitor_plan(pipeline), ())]
    tracked = lineage.tracked(pipeline)
    out: list[tuple[Plan, tuple[str, ...]]] = [(track_plan(pipeline), ())] if tracked else []
    for step in pipeline.steps:
        plan = step_plan(step)
        if tracked and not upstream(plan, step.gates):
            plan = dataclasses.replace(plan, after=(*plan.after, TRACK_TASK))
        out.append((plan, step.gates))
    out += [(gate_plan(pipeline, g), ()) for g in pipeline.gates]
    if pipeline.registry is not None:
        out += [
            (promotion_plan(pipeline, rule), rule.gates)
            for rule in pipeline.registry.rules
            if not rule.after_rollout
        ]
    if tracked:
        steps = list(pipeline.steps) if recorded is None else recorded
        out.append((lineage_plan(pipeline, steps), ()))
    return out


def upstream(plan: Plan, direct_gates: tuple[str, ...]) -> list[str]:
    """Tasks it reads from or waits for: data, explicit `after` and its gates."""
    found = [p.binding.step for p in plan.parameters if isinstance(p.binding, ir.OutputRef)]
    return [*dict.fromkeys([*found, *plan.after, *direct_gates])]


def layout(pipeline: ir.Pipeline) -> Layout:
    """Where every task sits. When the steps sit in blocks that do not nest, no task can read
    them all: LINEAGE_TASK then reads the steps outside every block (tracking.py)."""
    found = _layout(pipeline, plans(pipeline))
    if not any(plan.name == LINEAGE_TASK for plan, _ in found.problems):
        return found
    blocks = {placed.plan.name: placed.gates for placed in found.tasks}
    outside = [step for step in pipeline.steps if not blocks[step.name]]
    return _layout(pipeline, plans(pipeline, outside))


def _layout(pipeline: ir.Pipeline, items: list[tuple[Plan, tuple[str, ...]]]) -> Layout:
    deps = {plan.name: upstream(plan, gates) for plan, gates in items}
    order = _topological([plan.name for plan, _ in items], deps)
    by_name = {plan.name: (plan, gates) for plan, gates in items}
    gate_names = {g.name for g in pipeline.gates}
    rank = {name: i for i, name in enumerate(order)}
    conditions: dict[str, tuple[str, ...]] = {}
    problems: list[tuple[Plan, str]] = []
    placed: list[Placed] = []
    for name in order:
        plan, direct = by_name[name]
        wanted = set(direct)
        for dep in deps[name]:
            wanted |= set(conditions[dep])
        path = tuple(sorted(wanted, key=rank.__getitem__))
        conditions[name] = path
        for dep in deps[name]:
            inner = conditions[dep]
            if dep in gate_names and dep in wanted:
                # The gate task must sit outside its own block, within the blocks before it.
                before = path[: path.index(dep)]
                if before[: len(inner)] != inner:
                    problems.append((plan, _nesting(name, dep, inner, path)))
            elif path[: len(inner)] != inner:
                problems.append((plan, _nesting(name, dep, inner, path)))
        placed.append(Placed(plan, path))
    ordered = _block_order(placed, deps)
    if not problems:
        problems += _reopened_blocks(ordered, deps, by_name)
    return Layout(tuple(ordered), tuple(problems))


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _block_order(placed: list[Placed], deps: dict[str, list[str]]) -> list[Placed]:
    """A dependency order that keeps each block's tasks together.

    Closing a `dsl.If` block and opening one for the same gate again makes a second condition
    group, and kfp refuses a task that reads across groups. So, among the tasks that are ready,
    take one inside the open blocks (shallowest first) before closing any.
    """
    index = {p.plan.name: i for i, p in enumerate(placed)}
    remaining = dict(index)
    done: set[str] = set()
    open_path: tuple[str, ...] = ()
    out: list[Placed] = []
    while remaining:
        ready = [placed[i] for n, i in remaining.items() if done.issuperset(deps[n])]

        def priority(p: Placed, here: tuple[str, ...] = open_path) -> tuple[int, int, int, int]:
            common = _common(p.gates, here)
            inside = common == len(here)
            return (not inside, -common, len(p.gates), index[p.plan.name])

        chosen = min(ready, key=priority)
        out.append(chosen)
        done.add(chosen.plan.name)
        del remaining[chosen.plan.name]
        open_path = chosen.gates
    return out


def _reopened_blocks(
    ordered: list[Placed],
    deps: dict[str, list[str]],
    by_name: dict[str, tuple[Plan, tuple[str, ...]]],
) -> list[tuple[Plan, str]]:
    """Replay the block opening of `graph.place_tasks`; report reads across condition groups."""
    opened = 0
    stack: list[tuple[str, int]] = []
    groups: dict[str, tuple[int, ...]] = {}
    problems: list[tuple[Plan, str]] = []
    for placed in ordered:
        keep = _common(tuple(g for g, _ in stack), placed.gates)
        del stack[keep:]
        for gate in placed.gates[keep:]:
            opened += 1
            stack.append((gate, opened))
        name = placed.plan.name
        groups[name] = tuple(i for _, i in stack)
        for dep in deps[name]:
            if groups[dep] != groups[name][: len(groups[dep])]:
                problems.append(
                    (
                        by_name[name][0],
                        f"{name!r} reads {dep!r} across two separate condition groups of the "
                        "same gates, which KFP cannot express",
                    )
                )
    return problems


def _nesting(name: str, dep: str, inner: tuple[str, ...], path: tuple[str, ...]) -> str:
    return (
        f"{name!r} reads {dep!r}, which runs under the gates {', '.join(inner) or 'none'}; "
        f"{name!r} would run under {', '.join(path)}: KFP nests gate conditions, so one of "
        "these gate orders must extend the other"
    )


def _topological(names: list[str], deps: dict[str, list[str]]) -> list[str]:
    """Kahn's order; ties keep declaration order (steps, then gates, then promotions)."""
    index = {n: i for i, n in enumerate(names)}
    remaining = {n: set(deps[n]) for n in names}
    out: list[str] = []
    while remaining:
        ready = min((n for n, d in remaining.items() if not d), key=index.__getitem__)
        out.append(ready)
        del remaining[ready]
        for d in remaining.values():
            d.discard(ready)
    return out
