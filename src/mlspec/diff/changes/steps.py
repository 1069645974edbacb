"""Changes to steps: code (where it comes from: code.py), wiring, resources and limits, the
gates they wait for."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlspec.compiler import ir
from mlspec.diff.changes.code import SHORT, compare_code, runs_on_code_image
from mlspec.diff.changes.fanout import compare_loops
from mlspec.diff.model import Bump, Change, Path, Risk, at, duration, keyed, name_of, show


def compare_steps(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = keyed(old.steps, name_of), keyed(new.steps, name_of)
    for name in sorted(before.keys() - after.keys()):
        yield Change(
            f"step {name}",
            "removed",
            "review",
            "the pipeline no longer runs it",
            "pipeline",
            f"step_{name}",
            (("steps", at(name)),),
        )
    for name in sorted(after.keys() - before.keys()):
        yield Change(
            f"step {name}",
            "added",
            "review",
            "the pipeline runs new code",
            "pipeline",
            f"step_{name}",
            (("steps", at(name)),),
        )
    yield from compare_loops(old, new)
    trained = model_steps(old) | model_steps(new)
    for name in sorted(before.keys() & after.keys()):
        yield from _step(before[name], after[name], name in trained)


def _step(a: ir.Step, b: ir.Step, trains_model: bool) -> Iterator[Change]:
    subject, node, base = f"step {a.name}", f"step_{a.name}", ("steps", at(a.name))
    code_bump: Bump = "minor" if trains_model else "pipeline"
    why_code = "the model is trained differently" if trains_model else "it runs other code"

    def change(summary: str, risk: Risk, reason: str, bump: Bump | None, *covers: Path) -> Change:
        return Change(subject, summary, risk, reason, bump, node, covers)

    fields = ("function",) if runs_on_code_image(a, b) else ("function", "image")
    for field in fields:  # an image that holds the code: a code change (below)
        if getattr(a, field) != getattr(b, field):
            yield change(
                f"{field} {show(getattr(a, field))} -> {show(getattr(b, field))}",
                "review",
                why_code,
                code_bump,
                (*base, field),
            )
    if (a.command, a.args) != (b.command, b.args):
        yield change(
            "command or arguments changed",
            "review",
            why_code,
            code_bump,
            (*base, "command"),
            (*base, "args"),
        )
    yield from compare_code(a, b, change, base, code_bump)
    if a.notebook != b.notebook:
        yield change(
            _notebook(a.notebook, b.notebook), "review", why_code, code_bump, (*base, "notebook")
        )
    if a.packages != b.packages:
        yield change(
            f"packages {show(a.packages)} -> {show(b.packages)}",
            "review",
            "it runs with other libraries",
            code_bump,
            (*base, "packages"),
        )
    yield from _wiring(a, b, change, base)
    yield from _limits(a, b, change, base)
    yield from _placement(a.placement, b.placement, change, (*base, "placement"))
    if set(a.gates) - set(b.gates):
        lost = ", ".join(sorted(set(a.gates) - set(b.gates)))
        yield change(
            f"no longer waits for gate {lost}",
            "risky",
            "it now runs even when that gate says no",
            "pipeline",
            (*base, "gates"),
        )
    if set(b.gates) - set(a.gates):
        gained = ", ".join(sorted(set(b.gates) - set(a.gates)))
        yield change(
            f"now waits for gate {gained}",
            "safe",
            "it runs only when that gate says yes",
            "pipeline",
            (*base, "gates"),
        )
    if {(e.name, e.value, e.secret, e.param) for e in a.env} != {
        (e.name, e.value, e.secret, e.param) for e in b.env
    }:
        yield change(
            "environment changed",
            "review",
            "the step's configuration differs",
            "pipeline",
            (*base, "env"),
        )


def _wiring(a: ir.Step, b: ir.Step, change: Callable[..., Change], base: Path) -> Iterator[Change]:
    old_in, new_in = keyed(a.inputs, name_of), keyed(b.inputs, name_of)
    for name in sorted(old_in.keys() | new_in.keys()):
        before = show(old_in[name].source) if name in old_in else None
        after = show(new_in[name].source) if name in new_in else None
        if before != after:
            # The steps it waits for follow from what it reads.
            yield change(
                f"input {name}: {show(before)} -> {show(after)} (rewired)",
                "review",
                "it reads different data",
                "pipeline",
                (*base, "inputs", at(name)),
                (*base, "upstream"),
            )
    old_out = {o.name: o.type for o in a.outputs}
    new_out = {o.name: o.type for o in b.outputs}
    if old_out != new_out:
        removed = sorted(old_out.keys() - new_out.keys())
        bump: Bump = "major" if removed else "pipeline"
        yield change(
            f"outputs {show(tuple(old_out))} -> {show(tuple(new_out))}",
            "review",
            "what downstream steps and gates can read changed",
            bump,
            (*base, "outputs"),
        )
    after_a, after_b = _explicit_after(a), _explicit_after(b)
    if after_a != after_b:
        yield change(
            f"waits for {show(tuple(sorted(after_a)))} -> {show(tuple(sorted(after_b)))}",
            "review",
            "the order of the run changes",
            "pipeline",
            (*base, "upstream"),
        )


def _limits(a: ir.Step, b: ir.Step, change: Callable[..., Change], base: Path) -> Iterator[Change]:
    if a.resources != b.resources:
        yield change(
            f"resources {_resources(a.resources)} -> {_resources(b.resources)}",
            "review",
            "pods get other CPU or memory",
            "pipeline",
            (*base, "resources"),
        )
    if a.retries != b.retries:
        fewer = b.retries < a.retries
        yield change(
            f"retries {a.retries} -> {b.retries}",
            "review" if fewer else "safe",
            "a transient failure now fails the run"
            if fewer
            else "more transient failures are ridden out",
            "pipeline",
            (*base, "retries"),
        )
    if a.timeout_seconds != b.timeout_seconds:
        shorter = b.timeout_seconds is not None and (
            a.timeout_seconds is None or b.timeout_seconds < a.timeout_seconds
        )
        yield change(
            f"timeout {duration(a.timeout_seconds)} -> {duration(b.timeout_seconds)}",
            "review",
            "slow runs are cut off sooner" if shorter else "a hung step holds its worker longer",
            "pipeline",
            (*base, "timeout_seconds"),
        )
    if a.caching != b.caching:
        yield change(
            f"caching {a.caching} -> {b.caching}",
            "review" if b.caching else "safe",
            "results may be reused from an earlier run" if b.caching else "it always runs afresh",
            "pipeline",
            (*base, "caching"),
        )


def model_steps(pipeline: ir.Pipeline) -> set[str]:
    """The steps that make the registered model."""
    return {pipeline.registry.model.step} if pipeline.registry else set()


def _explicit_after(step: ir.Step) -> set[str]:
    """Steps waited for beyond those whose outputs it reads (those show as rewiring)."""
    reads = {r.step for i in step.inputs for r in ir.output_refs(i.source)}
    return set(step.upstream) - reads


def _resources(res: ir.Resources) -> str:
    parts = [f"{k}={v}" for k, v in (("cpu", res.cpu), ("memory", res.memory))]
    return "{" + ", ".join(p for p in parts if not p.endswith("=None")) + "}"


def _placement(
    a: ir.Placement, b: ir.Placement, change: Callable[..., Change], base: Path
) -> Iterator[Change]:
    """Other accelerators or other nodes: the step may not be scheduled, or runs slower."""
    old = (a.accelerator_type, a.accelerator_count)
    new = (b.accelerator_type, b.accelerator_count)
    if old != new:
        yield change(
            f"accelerator {_accelerator(a)} -> {_accelerator(b)}",
            "review",
            "its pod asks for other accelerators: it may wait for nodes that have them, or "
            "train without them",
            "pipeline",
            (*base, "accelerator_type"),
            (*base, "accelerator_count"),
        )
    if a.node_selector != b.node_selector:
        yield change(
            f"node selector {_labels(a)} -> {_labels(b)}",
            "review",
            "its pod moves to other nodes (or to none that match)",
            "pipeline",
            (*base, "node_selector"),
        )
    if a.tolerations != b.tolerations:
        yield change(
            f"tolerations {len(a.tolerations)} -> {len(b.tolerations)} (changed)",
            "review",
            "its pod may be placed on tainted nodes, or no longer",
            "pipeline",
            (*base, "tolerations"),
        )


def _accelerator(p: ir.Placement) -> str:
    return f"{p.accelerator_count} {p.accelerator_type}" if p.accelerator_type else "none"


def _labels(p: ir.Placement) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in p.node_selector) + "}"


def _notebook(old: ir.Notebook | None, new: ir.Notebook | None) -> str:
    """A notebook step's notebook: its bytes are its code, pinned by their digest."""

    def text(notebook: ir.Notebook | None) -> str:
        return "none" if notebook is None else f"{notebook.path} ({notebook.digest[:SHORT]})"

    if old is not None and new is not None and old.path == new.path:
        return f"notebook {new.path} changed: digest {old.digest[:SHORT]} -> {new.digest[:SHORT]}"
    return f"notebook {text(old)} -> {text(new)}"
