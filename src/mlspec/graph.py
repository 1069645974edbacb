"""The pipeline as a graph: what starts it (schedule, triggers), steps, gates, promotion rules
and the rollout; for a Monitor spec, the served model it watches, the logged data it reads, its
checks, and what a breach does (the alarm, the rollback).

`build` turns the IR into a small typed graph (`environment`: as bound to one environment, with
what that environment binds); `mermaid` and `dot` write it for Mermaid (which
GitHub renders in a pull-request comment) and Graphviz, `as_json` for tools. `merge` lays an
old and a new graph over each other so a review can show what a change added, changed and
removed.

Spec text reaches the output only through node and edge labels, and every label is escaped for
its consumer: nothing a spec says can end a quoted label early, add a node, a style or a
directive, or turn into HTML. Parameters are left out: they are inputs, not stages, and drawing
them would double the edges of a typical pipeline without showing anything a reviewer acts on.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlspec.compiler import ir
from mlspec.compiler.fields import show_duration

if TYPE_CHECKING:
    from mlspec.compiler import Analysis

Kind = Literal[
    "step",
    "gate",
    "promotion",
    "rollout",
    "schedule",
    "trigger",
    "model",
    "data",
    "monitor",
    "alarm",
    "rollback",
    "environment",
]
Mark = Literal["added", "changed", "removed"]


@dataclass(frozen=True)
class Node:
    """One box. `label` lines are separated by "\\n"; the renderers escape everything else."""

    id: str  # [A-Za-z0-9_]+, safe unquoted in Mermaid and DOT
    label: str
    kind: Kind


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""


@dataclass(frozen=True)
class Cluster:
    """A box around nodes: a loop's steps and per-item gates, which run once per element."""

    id: str  # as a node id, never one (prefix `loop`)
    label: str
    members: tuple[str, ...]  # node ids, in graph order


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...] = ()


# Node ids are the keys of a mark; edges are their own keys (merge marks both).
Marks = Mapping[str | Edge, Mark]

_NO_MARKS: Marks = {}
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*")


def node_id(prefix: str, name: str) -> str:
    """`prefix_name`, or an injective encoding when the name is not a plain identifier.

    Spec names are identifiers, but aliases may hold '-' and a caller may pass anything: the
    encoded form starts with a double underscore, which a plain name never produces, and spells
    every character outside [A-Za-z0-9] as _hex_, so two names never share an id.
    """
    if _PLAIN_NAME.fullmatch(name):
        return f"{prefix}_{name}"
    spelled = "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in name)
    return f"{prefix}__{spelled}"


# --- build -------------------------------------------------------------------------------------


def build(pipeline: ir.Pipeline) -> Graph:
    """The pipeline's stages in a fixed order: schedule, triggers, steps, gates, promotions,
    rollout."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    if pipeline.schedule is not None:
        nodes.append(_schedule_node(pipeline.schedule))
        edges += _start_edges("schedule", pipeline)
    for trigger in pipeline.triggers:
        node = _trigger_node(trigger)
        nodes.append(node)
        edges += _start_edges(node.id, pipeline)
    for step in pipeline.steps:
        nodes.append(Node(node_id("step", step.name), _step_label(step), "step"))
        edges += _step_edges(step, pipeline)
    for gate in pipeline.gates:
        nodes.append(Node(node_id("gate", gate.name), _gate_label(gate), "gate"))
        edges += _gate_edges(gate)
    clusters = tuple(_loop_cluster(loop) for loop in pipeline.loops)
    if pipeline.registry is not None:
        for rule in pipeline.registry.rules:
            nodes.append(Node(node_id("promote", rule.alias), f"promote {rule.alias}", "promotion"))
            edges += _rule_edges(rule, pipeline)
    if pipeline.rollout is not None:
        nodes.append(Node("rollout", _rollout_label(pipeline.rollout), "rollout"))
        edges += _rollout_edges(pipeline.rollout, pipeline.registry)
    if pipeline.monitor is not None:
        more = _monitor(pipeline.name, pipeline.monitor)
        nodes += more.nodes
        edges += more.edges
    return Graph(tuple(nodes), tuple(edges), clusters)


def _text(value: str) -> str:
    """Spec text on one line: any line break or run of white space becomes one space.

    Line breaks in a label belong to the graph's layout, not to the spec (and U+2028 is a line
    break to some renderers but not others).
    """
    return " ".join(value.split())


def _short_image(image: str) -> str:
    """An image with its digest cut to 12 hex digits: enough to tell two digests apart."""
    name, at, digest = image.partition("@")
    algorithm, _, hex_digits = digest.partition(":")
    if at and len(hex_digits) > 12:
        return f"{name}@{algorithm}:{hex_digits[:12]}..."
    return image


# The elements a loop's box names before it says how many there are.
SHOWN_ITEMS = 6


def _step_label(step: ir.Step) -> str:
    name = step.name
    if step.function is not None:
        return f"{_text(name)}\npython: {_text(step.function)}"
    if step.notebook is not None:
        return f"{_text(name)}\nnotebook: {_text(step.notebook.path)}"
    return f"{_text(name)}\nimage: {_text(_short_image(step.image or ''))}"


def _per_item_gates(pipeline: ir.Pipeline) -> dict[str, str]:
    """Each per-item gate's loop: outside it, waiting for the gate means every item passed."""
    return {gate: loop.name for loop in pipeline.loops for gate in loop.gates}


def _loop_cluster(loop: ir.Loop) -> Cluster:
    """A loop's box, titled with its list: `for each: eu, us` or `for each: params.regions`."""
    if isinstance(loop.items, ir.ParamRef):
        label = f"for each: params.{_text(loop.items.name)}"
    else:
        shown = ", ".join(_text(str(i)) for i in loop.items[:SHOWN_ITEMS])
        more = f", ... ({len(loop.items)})" if len(loop.items) > SHOWN_ITEMS else ""
        label = f"for each: {shown}{more}"
    members = [node_id("step", s) for s in loop.steps] + [node_id("gate", g) for g in loop.gates]
    return Cluster(node_id("loop", loop.name), label, tuple(members))


def _step_edges(step: ir.Step, pipeline: ir.Pipeline) -> list[Edge]:
    """One edge per upstream step, labelled with the outputs it passes ('after': none); a step
    that collects a loop's outputs reads them as a list: `table[]`, and waits for every
    iteration of a per-item gate: `every item`."""
    target = node_id("step", step.name)
    passed: dict[str, list[str]] = {node_id("step", name): [] for name in step.upstream}
    for item in step.inputs:
        mark = "[]" if isinstance(item.source, ir.FanIn) else ""
        for source in ir.output_refs(item.source):
            outputs = passed.setdefault(node_id("step", source.step), [])
            if source.output + mark not in outputs:
                outputs.append(source.output + mark)
    edges = [Edge(name, target, ", ".join(outputs) or "after") for name, outputs in passed.items()]
    per_item = _per_item_gates(pipeline)
    edges += [
        Edge(
            node_id("gate", g),
            target,
            "every item" if per_item.get(g, step.loop) != step.loop else "",
        )
        for g in step.gates
    ]
    return edges


def _gate_label(gate: ir.Gate) -> str:
    if gate.serving is not None:
        return f"{_text(gate.name)}\nserving gate, {gate.serving.runtime}, on fail: {gate.on_fail}"
    count = len(gate.checks) if gate.kind == "data" else len(gate.requirements)
    noun = "check" if gate.kind == "data" else "requirement"
    plural = "" if count == 1 else "s"
    return f"{_text(gate.name)}\n{gate.kind} gate, {count} {noun}{plural}, on fail: {gate.on_fail}"


def _gate_reads(gate: ir.Gate) -> list[ir.OutputRef]:
    """The outputs a gate checks: its dataset and drift references, its metrics, or the model
    it serves and the dataset its requests come from."""
    if gate.serving is not None:
        return [gate.serving.model, *([gate.serving.dataset] if gate.serving.dataset else [])]
    refs = [gate.dataset] if gate.dataset is not None else []
    refs += [check.reference for check in gate.checks if check.reference is not None]
    refs += [requirement.metric for requirement in gate.requirements]
    return refs


def _gate_edges(gate: ir.Gate) -> list[Edge]:
    read: dict[str, list[str]] = {name: [] for name in gate.upstream}
    for ref in _gate_reads(gate):
        outputs = read.setdefault(ref.step, [])
        if ref.output not in outputs:
            outputs.append(ref.output)
    return [
        Edge(node_id("step", name), node_id("gate", gate.name), ", ".join(outputs))
        for name, outputs in read.items()
    ]


def _rule_edges(rule: ir.PromotionRule, pipeline: ir.Pipeline) -> list[Edge]:
    """Gates into the rule (a per-item gate's: every item passed); a rule that waits for
    nothing is fed by the registered model."""
    target = node_id("promote", rule.alias)
    per_item = _per_item_gates(pipeline)
    edges = [
        Edge(node_id("gate", gate), target, "every item" if gate in per_item else "")
        for gate in rule.gates
    ]
    if not rule.gates and not rule.after_rollout:
        assert pipeline.registry is not None  # a promotion rule needs one
        model = pipeline.registry.model
        edges.append(Edge(node_id("step", model.step), target, model.output))
    return edges


def _rollout_label(rollout: ir.Rollout) -> str:
    service = rollout.service
    return (
        f"rollout: {rollout.controller} {_text(rollout.strategy_kind)}\n"
        f"service: {_text(service.namespace)}/{_text(service.name)}"
    )


def _served_aliases(rollout: ir.Rollout) -> list[str]:
    """The aliases the rollout serves: its model alias, and each bandit arm's."""
    aliases = [rollout.model_alias] if rollout.model_alias is not None else []
    if isinstance(rollout.strategy, ir.Bandit):
        aliases += [arm.model_alias for arm in rollout.strategy.arms if arm.model_alias]
    return list(dict.fromkeys(aliases))


def _rollout_edges(rollout: ir.Rollout, registry: ir.Registry | None) -> list[Edge]:
    promoted = [rule.alias for rule in registry.rules] if registry is not None else []
    edges = [
        Edge(node_id("promote", alias), "rollout", "serves")
        for alias in _served_aliases(rollout)
        if alias in promoted
    ]
    rules = registry.rules if registry is not None else ()
    edges += [
        Edge("rollout", node_id("promote", rule.alias), "passed")
        for rule in rules
        if rule.after_rollout
    ]
    return edges


def _schedule_node(schedule: ir.Schedule) -> Node:
    paused = ", paused" if schedule.paused else ""
    return Node(
        "schedule",
        f"schedule: {_text(schedule.cron)} {_text(schedule.timezone)}{paused}",
        "schedule",
    )


def _trigger_node(trigger: ir.Trigger) -> Node:
    """Keyed by what it waits for, so that a diff marks a changed alias or interval."""
    if trigger.kind == "data":
        key, label = f"data {trigger.path}", f"data arrives: {_text(trigger.path or '')}"
        label += f"\nlooked at every {show_duration(trigger.every_seconds or 0)}"
    elif trigger.kind == "pipeline":
        key = f"pipeline {trigger.pipeline}"
        alias = f"to {_text(trigger.alias)}" if trigger.alias else "(any alias)"
        label = f"pipeline {_text(trigger.pipeline or '')}\npromoted {alias}"
    elif trigger.kind == "monitor":
        key = f"monitor {trigger.monitor}"
        label = f"monitor {_text(trigger.monitor or '')}\nraises its alarm"
    else:
        key, label = "manual", "manual runs only"
    return Node(node_id("trigger", key), label, "trigger")


def _start_edges(source: str, pipeline: ir.Pipeline) -> list[Edge]:
    """The schedule and each trigger start the steps that wait for nothing (a monitor's job)."""
    if pipeline.monitor is not None:
        return [Edge(source, MONITOR)]
    starts = [node_id("step", s.name) for s in pipeline.steps if not s.upstream and not s.gates]
    return [Edge(source, name) for name in starts]


# --- a monitor ---------------------------------------------------------------------------------

MONITOR = "monitor"  # the monitor's job; mlspec.diff's monitor changes name these ids too


def _monitor(name: str, monitor: ir.Monitor) -> Graph:
    """The served model and the logged data into the job; a breach raises the alarm and, when
    the spec says so, rolls the alias back one version (an edge back to the served model)."""
    model = monitor.model
    nodes = [
        Node(
            "monitor_model",
            f"serves {_text(model.pipeline)}@{_text(model.alias)}\n"
            f"registered model: {_text(model.registered_model)}",
            "model",
        ),
        Node("monitor_inputs", _logged_label("served inputs", monitor.inputs), "data"),
    ]
    trained_on = any(c.kind == "drift" and not c.reference_uri for c in monitor.checks)
    edges = [
        Edge("monitor_model", MONITOR, "version, training data" if trained_on else "version"),
        Edge("monitor_inputs", MONITOR, "inputs"),
    ]
    lines = [f"monitor {_text(name)}", *(_check_line(c) for c in monitor.checks)]
    feedback = monitor.feedback
    if feedback is not None:
        label = _logged_label("labelled feedback", feedback.data)
        nodes.append(
            Node("monitor_feedback", f"{label}, at least {feedback.min_rows} rows", "data")
        )
        edges.append(Edge("monitor_feedback", MONITOR, "predictions, labels"))
        lines += [f"feedback {r.metric}{_bounds(r.min, r.max)}" for r in feedback.requirements]
    nodes.append(Node(MONITOR, "\n".join(lines), "monitor"))
    nodes.append(Node("monitor_alarm", f"alarm: {_text(name)} breached", "alarm"))
    edges.append(Edge(MONITOR, "monitor_alarm", "breach"))
    if monitor.rollback_on:
        kinds = ", ".join(monitor.rollback_on)
        label = f"roll {_text(model.alias)} back one version\nnever twice in a row"
        nodes.append(Node("monitor_rollback", label, "rollback"))
        edges.append(Edge(MONITOR, "monitor_rollback", f"breach of {kinds}"))
        edges.append(Edge("monitor_rollback", "monitor_model", "previous version"))
    return Graph(tuple(nodes), tuple(edges))


def _logged_label(what: str, data: ir.LoggedData) -> str:
    window = data.window_seconds
    span = "every file" if window is None else f"files of the last {show_duration(window)}"
    return f"{what}: {_text(data.path)}\n{span}"


def _bounds(low: ir.Threshold | None, high: ir.Threshold | None) -> str:
    """' min 0.9', ' max 0.2' or ' 5..35'."""
    if low is not None and high is not None:
        return f" {_number(low)}..{_number(high)}"
    return f" min {_number(low)}" if low is not None else f" max {_number(high)}"


def _number(value: ir.Threshold | None) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _check_line(check: ir.DataCheck) -> str:
    column = f"({_text(check.column)})" if check.column else ""
    if check.pattern is not None:
        column = f"(/{_text(check.pattern)}/)"
    if check.kind == "columns":
        return "columns: " + ", ".join(_text(name) for name, _ in check.columns)
    if check.kind == "categories":
        return f"categories{column} in " + ", ".join(_text(str(v)) for v in check.allowed)
    line = f"{check.kind}{column}{_bounds(check.min, check.max)}"
    if check.kind == "drift":
        against = _text(check.reference_uri) if check.reference_uri else "the training data"
        line += f" ({check.method}) vs {against}"
    return line


# --- environment -------------------------------------------------------------------------------


def environment(bound: Analysis) -> Graph:
    """The pipeline as it runs in the environment `bound` is bound to (Analysis.for_environment),
    with a box of what the environment binds and an edge to each gate it makes stricter,
    labelled with the bounds in effect there."""
    pipeline = bound.pipeline
    name = pipeline.environment or ""
    binding = bound.spec.environments[name]
    lines = [f"environment {_text(name)}"]
    if pipeline.registry is not None:
        uri = _text(pipeline.registry.tracking_uri or "the ambient MLflow")
        lines.append(f"registry: {uri}, model {_text(pipeline.registry.registered_model)}")
    if pipeline.artifact_root is not None:
        lines.append(f"artifacts: {_text(pipeline.artifact_root)}")
    if pipeline.rollout is not None:
        service = pipeline.rollout.service
        size = [f"{service.replicas} replicas"]
        size += [f"{k} {v}" for k, v in vars(service.resources).items() if v is not None]
        lines.append(f"namespace: {_text(service.namespace)}")
        lines.append("serving: " + ", ".join(_text(str(part)) for part in size))
    if binding.images is not None:
        lines.append(f"images: {_text(binding.images.from_)} -> {_text(binding.images.to)}")
    if binding.promote_from is not None:
        lines.append(f"serves versions proven in {_text(binding.promote_from)}")
    node = Node(node_id("environment", name), "\n".join(lines), "environment")
    gates = {gate.name: gate for gate in pipeline.gates}
    edges = [
        Edge(
            node.id,
            node_id("gate", gate),
            "stricter: "
            + ", ".join(_stricter(gates[gate], (*tightened.require, *tightened.checks))),
        )
        for gate, tightened in binding.gates.items()
        if gate in gates
    ]
    drawn = build(pipeline)
    return Graph((*drawn.nodes, node), (*drawn.edges, *edges))


def _stricter(gate: ir.Gate, keys: tuple[str, ...]) -> list[str]:
    """The bounds in effect of the gate's tightened requirements and checks."""
    lines = [
        f"{_text(f'{r.metric.step}.{r.metric.output}')}{_bounds(r.min, r.max)}"
        for r in gate.requirements
        if f"{r.metric.step}.{r.metric.output}" in keys and r.vs is None
    ]
    lines += [
        _check_line(c) for c in gate.checks if c.kind in keys or f"{c.kind}.{c.column}" in keys
    ]
    return lines


# --- merge -------------------------------------------------------------------------------------


def merge(old: Graph, new: Graph) -> tuple[Graph, dict[str | Edge, Mark]]:
    """Both graphs in one, with what changed marked.

    Nodes: only in new, added; only in old, removed; in both with another label or kind,
    changed (drawn as in new). Edges are matched by their two ends: only in new, added; only in
    old, removed (drawn dashed); in both with another label, changed. New items keep new's order,
    removed ones follow in old's order, so the result is as deterministic as the inputs.
    """
    marks: dict[str | Edge, Mark] = {}
    old_nodes = {node.id: node for node in old.nodes}
    new_ids = {node.id for node in new.nodes}
    for node in new.nodes:
        before = old_nodes.get(node.id)
        if before is None:
            marks[node.id] = "added"
        elif before != node:
            marks[node.id] = "changed"
    removed_nodes = [node for node in old.nodes if node.id not in new_ids]
    marks.update({node.id: "removed" for node in removed_nodes})

    old_edges = {(edge.source, edge.target): edge for edge in old.edges}
    new_ends = {(edge.source, edge.target) for edge in new.edges}
    for edge in new.edges:
        old_edge = old_edges.get((edge.source, edge.target))
        if old_edge is None:
            marks[edge] = "added"
        elif old_edge.label != edge.label:
            marks[edge] = "changed"
    removed_edges = [edge for edge in old.edges if (edge.source, edge.target) not in new_ends]
    marks.update(dict.fromkeys(removed_edges, "removed"))
    # Loops: new's, then old's that are gone; a loop whose list changed marks its members.
    old_clusters = {cluster.id: cluster for cluster in old.clusters}
    for cluster in new.clusters:
        was = old_clusters.get(cluster.id)
        if was is not None and was.label != cluster.label:
            for member in cluster.members:
                marks.setdefault(member, "changed")
    new_cluster_ids = {cluster.id for cluster in new.clusters}
    kept = {node.id for node in [*new.nodes, *removed_nodes]}
    clusters = [*new.clusters]
    for cluster in old.clusters:
        members = tuple(m for m in cluster.members if m in kept and m not in _members(new))
        if cluster.id not in new_cluster_ids and members:
            clusters.append(Cluster(cluster.id, cluster.label, members))
    merged = Graph(
        new.nodes + tuple(removed_nodes), new.edges + tuple(removed_edges), tuple(clusters)
    )
    return merged, marks


def _members(graph: Graph) -> set[str]:
    return {member for cluster in graph.clusters for member in cluster.members}


# --- Mermaid -----------------------------------------------------------------------------------

# Characters a Mermaid label keeps as they are: letters and digits of any script, and these.
# Everything else (quotes, brackets, pipes, <, #, %, `, &, line breaks, controls, format
# characters such as bidi overrides) is written as a numeric entity code, #<decimal>; which
# Mermaid turns into &#<decimal>; in the rendered HTML: shown as the character, never parsed.
_MERMAID_SAFE = frozenset(" _.,:/@+=-*'!?")

_MERMAID_SHAPES: Mapping[Kind, tuple[str, str]] = {
    "step": ('["', '"]'),  # rectangle
    "gate": ('{{"', '"}}'),  # hexagon
    "promotion": ('(["', '"])'),  # stadium
    "rollout": ('[["', '"]]'),  # subroutine
    "schedule": ('>"', '"]'),  # flag
    "trigger": ('[/"', '"/]'),  # parallelogram
    "model": ('("', '")'),  # rounded rectangle
    "data": ('[("', '")]'),  # cylinder
    "monitor": ('{{"', '"}}'),  # hexagon, as a gate: it judges
    "alarm": ('>"', '"]'),  # flag, as a schedule: it starts runs
    "rollback": ('[/"', '"\\]'),  # trapezoid
    "environment": ('[\\"', '"/]'),  # inverted trapezoid: what the pipeline stands on
}

# GitHub's Primer colours: green, amber, red (dashed) as in its own diffs.
_MERMAID_CLASSES: Mapping[Mark, str] = {
    "added": "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px,color:#1f2328",
    "changed": "fill:#fff8c5,stroke:#9a6700,stroke-width:2px,color:#1f2328",
    "removed": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5,color:#1f2328",
}
_MERMAID_LINKS: Mapping[Mark, str] = {
    "added": "stroke:#1a7f37,stroke-width:2px",
    "changed": "stroke:#9a6700,stroke-width:2px",
    "removed": "stroke:#cf222e,stroke-width:2px",
}
_ORDER: tuple[Mark, ...] = ("added", "changed", "removed")


def _mermaid_keeps(c: str, at_end: bool) -> bool:
    if c == " ":
        return not at_end  # Mermaid trims a label's ends: a space there must be an entity
    return c.isalnum() or c in _MERMAID_SAFE


def mermaid_text(text: str) -> str:
    """One label line for a Mermaid "..." string: only letters, digits and inert punctuation."""
    last = len(text) - 1
    return "".join(
        c if _mermaid_keeps(c, i in (0, last)) else f"#{ord(c)};" for i, c in enumerate(text)
    )


def _mermaid_label(label: str) -> str:
    """Lines joined with <br>; an empty label is one space (Mermaid rejects [""])."""
    return "<br>".join(mermaid_text(line) for line in label.split("\n")) or "#32;"


def mermaid(graph: Graph, marks: Marks = _NO_MARKS) -> str:
    """A `flowchart TD`; marked nodes get a class, marked edges a colour (removed: dotted).

    No line ends in ';': Mermaid reads `#abc123;` in a style as an entity code.
    """
    lines = ["flowchart TD"]
    for node in graph.nodes:
        opening, closing = _MERMAID_SHAPES[node.kind]
        lines.append(f"    {node.id}{opening}{_mermaid_label(node.label)}{closing}")
    for cluster in graph.clusters:  # after the nodes, so that they keep their order
        lines.append(f'    subgraph {cluster.id} ["{_mermaid_label(cluster.label)}"]')
        lines += [f"        {member}" for member in cluster.members]
        lines.append("    end")
    for edge in graph.edges:
        arrow = "-.->" if marks.get(edge) == "removed" else "-->"
        label = f'|"{_mermaid_label(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.source} {arrow}{label} {edge.target}")
    for mark in _ORDER:
        ids = [node.id for node in graph.nodes if marks.get(node.id) == mark]
        if ids:
            lines.append(f"    classDef {mark} {_MERMAID_CLASSES[mark]}")
            lines.append(f"    class {','.join(ids)} {mark}")
    for mark in _ORDER:
        numbers = [str(i) for i, edge in enumerate(graph.edges) if marks.get(edge) == mark]
        if numbers:
            lines.append(f"    linkStyle {','.join(numbers)} {_MERMAID_LINKS[mark]}")
    return "\n".join(lines) + "\n"


# --- DOT ---------------------------------------------------------------------------------------

_DOT_SHAPES: Mapping[Kind, tuple[str, str]] = {  # shape, style
    "step": ("box", "filled"),
    "gate": ("hexagon", "filled"),
    "promotion": ("box", "rounded,filled"),
    "rollout": ("box3d", "filled"),
    "schedule": ("cds", "filled"),
    "trigger": ("parallelogram", "filled"),
    "model": ("ellipse", "filled"),
    "data": ("cylinder", "filled"),
    "monitor": ("hexagon", "filled"),
    "alarm": ("cds", "filled"),
    "rollback": ("trapezium", "filled"),
    "environment": ("note", "filled"),
}
_DOT_NODE_COLOURS: Mapping[Mark, str] = {
    "added": 'fillcolor="#dafbe1", color="#1a7f37", penwidth=2',
    "changed": 'fillcolor="#fff8c5", color="#9a6700", penwidth=2',
    "removed": 'fillcolor="#ffebe9", color="#cf222e", penwidth=2',
}
_DOT_EDGE_COLOURS: Mapping[Mark, str] = {
    "added": 'color="#1a7f37", penwidth=2',
    "changed": 'color="#9a6700", penwidth=2',
    "removed": 'color="#cf222e", penwidth=2, style=dashed',
}


def dot_text(text: str) -> str:
    """One label line for a DOT "..." string, shown as written.

    Backslash and quote are escaped for the DOT lexer (a lone backslash would start an escape
    such as \\N, the node's name), & for Graphviz's entity decoding; line breaks, controls and
    format characters become numeric entities so one label line stays one line.
    """
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "&":
            out.append("&amp;")
        elif unicodedata.category(c)[0] in "CZ" and c != " ":
            out.append(f"&#{ord(c)};")
        else:
            out.append(c)
    return "".join(out)


def _dot_label(label: str) -> str:
    return "\\n".join(dot_text(line) for line in label.split("\n"))


def _dot_style(node: Node, mark: Mark | None) -> str:
    shape, style = _DOT_SHAPES[node.kind]
    if mark == "removed":
        style += ",dashed"
    colours = _DOT_NODE_COLOURS[mark] if mark else 'fillcolor="white"'
    return f'shape={shape}, style="{style}", {colours}'


def dot(graph: Graph, marks: Marks = _NO_MARKS) -> str:
    """A Graphviz `digraph`, top to bottom, marked nodes and edges coloured (removed: dashed)."""
    lines = [
        "digraph pipeline {",
        "    rankdir=TB;",
        '    node [fontname="Helvetica", fontsize=11];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in graph.nodes:
        style = _dot_style(node, marks.get(node.id))
        lines.append(f'    "{node.id}" [label="{_dot_label(node.label)}", {style}];')
    for cluster in graph.clusters:  # `cluster` names draw a box in Graphviz
        lines.append(f'    subgraph "cluster_{cluster.id}" {{')
        lines.append(f'        label="{_dot_label(cluster.label)}"; style="dashed";')
        lines += [f'        "{member}";' for member in cluster.members]
        lines.append("    }")
    for edge in graph.edges:
        attributes = [f'label="{_dot_label(edge.label)}"'] if edge.label else []
        mark = marks.get(edge)
        if mark:
            attributes.append(_DOT_EDGE_COLOURS[mark])
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f'    "{edge.source}" -> "{edge.target}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- JSON ------------------------------------------------------------------------------------


def as_json(graph: Graph) -> str:
    """The graph for tools: nodes with their kind and label (lines joined by "\\n"), edges with
    their label. JSON escapes the spec text; nothing else is done to it."""
    data = {
        "nodes": [{"id": n.id, "kind": n.kind, "label": n.label} for n in graph.nodes],
        "edges": [{"source": e.source, "target": e.target, "label": e.label} for e in graph.edges],
        "clusters": [
            {"id": c.id, "label": c.label, "members": list(c.members)} for c in graph.clusters
        ],
    }
    return json.dumps(data, indent=2) + "\n"
