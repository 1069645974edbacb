"""Where each task sits: its order of creation and the blocks around it.

A block is a `dsl.If` on a gate's verdict or a loop's `dsl.ParallelFor` (`loop_block`). A task
runs under the gates it waits for and every gate its inputs ran under; a loop's members and
per-item gates run in its ParallelFor. KFP nests blocks and forbids a task to depend on one
inside a block it is not in (except a loop's outputs, read outside it with `dsl.Collected`), so
each task's blocks, in the order their tasks are created, must extend those of what it reads.

Outside its loop, a per-item gate stands for every iteration: its `every_passed` task (`GATE`
plus EVERY) merges the gate's collected reports, and what waits for the gate outside the loop
runs in a `dsl.If` on that task's verdict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mlspec.backends import lineage
from mlspec.backends.kubeflow.gates import EVERY, REPORT, gate_plan, promotion_plan
from mlspec.backends.kubeflow.monitor import monitor_plan
from mlspec.backends.kubeflow.plan import DEFAULT_PYTHON_IMAGE, Parameter, Plan, signature
from mlspec.backends.kubeflow.steps import step_plan
from mlspec.backends.kubeflow.tracking import lineage_plan, track_plan
from mlspec.compiler import ir
from mlspec.runtime.lineage import LINEAGE_TASK, TRACK_TASK

_LOOP_BLOCK = "for_each "  # a loop's block: never a task's name (an identifier)


def loop_block(loop: str) -> str:
    return _LOOP_BLOCK + loop


def block_loop(block: str) -> str | None:
    """The loop a block is the ParallelFor of; None for a gate's dsl.If."""
    return block[len(_LOOP_BLOCK) :] if block.startswith(_LOOP_BLOCK) else None


@dataclass(frozen=True)
class Placed:
    plan: Plan
    # The blocks around it, outermost first: gates' dsl.If (by the gate's, or its
    # every_passed task's, name) and loops' ParallelFor (loop_block).
    gates: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    tasks: tuple[Placed, ...]  # in creation order
    problems: tuple[tuple[Plan, str], ...]  # (task, why it cannot be placed)
    # (task, GATE, STEP): the task collects STEP's outputs, which per-item gate GATE guards;
    # an element that GATE fails fails the run there instead of blocking the task.
    failing: tuple[tuple[Plan, str, str], ...] = ()
    # (task, why): it reads a loop's collected artifacts inside blocks the loop is not in.
    collected: tuple[tuple[Plan, str], ...] = ()


def plans(
    pipeline: ir.Pipeline, recorded: list[ir.Step] | None = None, collected: bool = True
) -> list[tuple[Plan, tuple[str, ...]]]:
    """Every task with the gates it waits for directly, in declaration order; a tracked
    pipeline's TRACK_TASK first (every root step waits for it) and LINEAGE_TASK last, reading
    the `recorded` steps (default: all), and the datasets of looped ones if `collected`."""
    if pipeline.monitor is not None:
        return [(monitor_plan(pipeline), ())]
    tracked = lineage.tracked(pipeline)
    out: list[tuple[Plan, tuple[str, ...]]] = [(track_plan(pipeline), ())] if tracked else []
    loops = {g.name: g.loop for g in pipeline.gates if g.loop is not None}

    def outside(gates: tuple[str, ...], loop: str | None) -> tuple[str, ...]:
        """A per-item gate waited for outside its loop: its every_passed task."""
        return tuple(g + EVERY if loops.get(g, loop) != loop else g for g in gates)

    for step in pipeline.steps:
        plan = step_plan(step)
        gates = outside(step.gates, step.loop)
        if tracked and not upstream(plan, gates):
            plan = dataclasses.replace(plan, after=(*plan.after, TRACK_TASK))
        out.append((plan, gates))
    out += [(dataclasses.replace(gate_plan(pipeline, g), loop=g.loop), ()) for g in pipeline.gates]
    rules = pipeline.registry.rules if pipeline.registry is not None else ()
    rules = tuple(rule for rule in rules if not rule.after_rollout)
    # A per-item gate's every_passed task, where something outside its loop waits for it or
    # may read a step it guards (and so runs in the dsl.If on every_passed, _layout).
    waited = {g for _, gates in out for g in gates} | {g + EVERY for r in rules for g in r.gates}
    waited |= {g + EVERY for step in pipeline.steps for g in step.gates if g in loops}
    out += [
        (every_passed_plan(g), ())
        for g in pipeline.gates
        if g.loop is not None and g.name + EVERY in waited
    ]
    # A promotion reads a per-item gate's merged report (every_passed) and promotes only if it
    # passed, without a dsl.If on it: one could not nest with the blocks of its other gates
    # where the readers of the loop's collected artifacts run outside it (_layout).
    out += [
        (promotion_plan(pipeline, rule), tuple(g for g in rule.gates if g not in loops))
        for rule in rules
    ]
    if tracked:
        steps = list(pipeline.steps) if recorded is None else recorded
        out.append((lineage_plan(pipeline, steps, collected), ()))
    return out


def upstream(plan: Plan, direct_gates: tuple[str, ...]) -> list[str]:
    """Tasks it reads from or waits for: data, explicit `after` and its gates."""
    found = [
        r.step
        for p in plan.parameters
        if isinstance(p.binding, ir.OutputRef | ir.FanIn)
        for r in ir.output_refs(p.binding)
    ]
    return [*dict.fromkeys([*found, *plan.after, *direct_gates])]


def every_passed_plan(gate: ir.Gate) -> Plan:
    """A per-item gate over the whole loop: its report merges every iteration's (each one's
    checks; passed when every one passed), and its verdict is that report's. A promotion reads
    this one report: kfp cannot pass collected artifacts into the dsl.If around a promotion."""
    name = gate.name + EVERY
    reports = Parameter(
        "reports", "Input[List[Artifact]]", ir.FanIn(ir.OutputRef(gate.name, REPORT))
    )
    parameters = (reports, Parameter(REPORT, "Output[Artifact]", None))
    empty = {"gate": gate.name, "kind": gate.kind, "passed": True, "checks": [], "reason": ""}
    lines = [
        f"def {name}({signature(parameters)}) -> bool:",
        "    import json",
        "",
        f"    _mlspec_merged = {empty!r}",
        "    for _mlspec_report in reports:",
        "        with open(_mlspec_report.path, encoding='utf-8') as _mlspec_handle:",
        "            _mlspec_one = json.load(_mlspec_handle)",
        "        _mlspec_merged['passed'] = _mlspec_merged['passed'] and _mlspec_one['passed']",
        "        _mlspec_merged['checks'] += _mlspec_one['checks']",
        "        if _mlspec_one['reason']:",
        "            _mlspec_merged['reason'] = _mlspec_one['reason']",
        f"    with open({REPORT}.path, 'w', encoding='utf-8') as _mlspec_handle:",
        "        json.dump(_mlspec_merged, _mlspec_handle, indent=2)",
        "    return _mlspec_merged['passed']",
    ]
    return Plan(
        name=name,
        kind="python",
        parameters=parameters,
        scalar_outputs=(),
        source="\n".join(lines) + "\n",
        image=DEFAULT_PYTHON_IMAGE,
        packages=(),
        step=None,
        after=(),
        span=gate.span,
        description=f"Whether gate {gate.name!r} passed for every element of its loop.",
    )


def layout(pipeline: ir.Pipeline) -> Layout:
    """Where every task sits. When the steps sit in blocks that do not nest, no task can read
    them all: LINEAGE_TASK then reads the steps outside every block (tracking.py)."""
    found = _layout(pipeline, plans(pipeline))
    if not _lineage_misplaced(found):
        return found
    # Collected datasets cannot enter the blocks LINEAGE_TASK sits in: it reads the others.
    without = _layout(pipeline, plans(pipeline, collected=False))
    if not _lineage_misplaced(without):
        return without
    blocks = {placed.plan.name: placed.gates for placed in found.tasks}
    outside = [
        step for step in pipeline.steps if all(block_loop(b) is not None for b in blocks[step.name])
    ]
    return _layout(pipeline, plans(pipeline, outside, collected=False))


def _lineage_misplaced(found: Layout) -> bool:
    return any(plan.name == LINEAGE_TASK for plan, _ in found.problems + found.collected)


def _layout(pipeline: ir.Pipeline, items: list[tuple[Plan, tuple[str, ...]]]) -> Layout:
    deps = {plan.name: upstream(plan, gates) for plan, gates in items}
    order = _topological([plan.name for plan, _ in items], deps)
    by_name = {plan.name: (plan, gates) for plan, gates in items}
    loop_of = {plan.name: plan.loop for plan, _ in items}
    gate_names = {g.name for g in pipeline.gates} | {g.name + EVERY for g in pipeline.gates}
    gate_loops = {g.name: g.loop for g in pipeline.gates if g.loop is not None}
    rank: dict[str, float] = {name: i for i, name in enumerate(order)}
    for loop in pipeline.loops:  # a loop's block opens just before its first task
        rank[loop_block(loop.name)] = min(rank[n] for n in order if loop_of[n] == loop.name) - 0.5

    def inherited(dep: str, loop: str | None) -> tuple[str, ...]:
        """The blocks of `dep` that a task in `loop` runs in too: outside dep's loop, not
        its ParallelFor, and its per-item gates as their every_passed tasks."""
        other = loop_of[dep]
        if other is None or other == loop:
            return conditions[dep]
        return tuple(
            b + EVERY if gate_loops.get(b) == other else b
            for b in conditions[dep]
            if b != loop_block(other)
        )

    conditions: dict[str, tuple[str, ...]] = {}
    problems: list[tuple[Plan, str]] = []
    failing: list[tuple[Plan, str, str]] = []
    into: list[tuple[Plan, str]] = []
    placed: list[Placed] = []
    for name in order:
        plan, direct = by_name[name]
        wanted = set(direct) | ({loop_block(plan.loop)} if plan.loop else set())
        for dep in deps[name]:
            wanted |= set(inherited(dep, plan.loop))
        collected = _collected(plan, artifacts=True)
        for dep in _collected(plan, artifacts=False) + collected:
            # kfp cannot collect the output of an iteration that skipped `dep`: an element that
            # a per-item gate guarding it fails fails the loop, and the run, before the reader.
            for block in conditions[dep]:
                fails = (plan, block, dep)
                if gate_loops.get(block) == loop_of[dep] and plan.kind != "tracking":
                    failing += [] if fails in failing else [fails]
        for dep in collected:
            # Nor pass collected artifacts into a dsl.If: their reader runs outside the blocks
            # of the per-item gates that guard `dep` (which fail the run as above).
            for block in conditions[dep]:
                if gate_loops.get(block) == loop_of[dep]:
                    wanted.discard(block + EVERY)
        path = tuple(sorted(wanted, key=rank.__getitem__))
        conditions[name] = path
        for dep in collected:
            if len(path) > len(visible(conditions[dep], loop_of[dep], plan.loop)):
                into.append((plan, _into_blocks(name, dep, path)))
        for dep in deps[name]:
            inner = visible(conditions[dep], loop_of[dep], plan.loop)
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
    return Layout(tuple(ordered), tuple(problems), tuple(failing), tuple(into))


def _collected(plan: Plan, artifacts: bool) -> list[str]:
    """The looped steps whose artifacts (`Input[List[...]]`), or values, `plan` collects."""
    return [
        p.binding.ref.step
        for p in plan.parameters
        if isinstance(p.binding, ir.FanIn) and p.annotation.startswith("Input[") == artifacts
    ]


# What kfp 2.17.3's compiler raises for collected artifacts read inside a dsl.If or another
# loop (pipeline_spec_builder.build_component_spec_for_group types them as parameters).
KFP_COLLECTED_ERROR = "TypeError: 'NoneType' object cannot be interpreted as an integer"


def _into_blocks(name: str, dep: str, path: tuple[str, ...]) -> str:
    blocks = ", ".join(f"the loop {block_loop(b)}" if block_loop(b) else f"gate {b}" for b in path)
    return (
        f"{name!r} reads the outputs of every iteration of {dep!r} (artifacts, as a "
        f"dsl.Collected list) inside the blocks of {blocks}: kfp cannot pass collected "
        f"artifacts into a dsl.If or another ParallelFor (its compiler fails: "
        f"{KFP_COLLECTED_ERROR})"
    )


def visible(blocks: tuple[str, ...], loop: str | None, reader: str | None) -> tuple[str, ...]:
    """The blocks of a task in `loop` that a task in `reader` must be in to read it: all, or,
    from outside its loop (`dsl.Collected`), those around the loop's ParallelFor."""
    if loop is None or loop == reader:
        return blocks
    return blocks[: blocks.index(loop_block(loop))]


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
    at = {placed.plan.name: placed for placed in ordered}
    for placed in ordered:
        keep = _common(tuple(g for g, _ in stack), placed.gates)
        del stack[keep:]
        for gate in placed.gates[keep:]:
            opened += 1
            stack.append((gate, opened))
        name = placed.plan.name
        groups[name] = tuple(i for _, i in stack)
        for dep in deps[name]:
            seen = visible(at[dep].gates, at[dep].plan.loop, placed.plan.loop)
            inner = groups[dep][: len(seen)]
            if inner != groups[name][: len(inner)]:
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
