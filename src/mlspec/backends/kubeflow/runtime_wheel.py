"""How a Kubeflow pipeline's gates and promotions get mlspec's runtime (needs no kfp).

The runtime components (runtime.py) either carry the runtime's modules as compact texts in the
IR, or, when the spec delivers its code by pinned wheels (`code.wheels` in defaults), install it
as one more pinned wheel, exactly like a step package: `mlspec_runtime_<hash> @
<code.wheels>/<wheel>#sha256=<sha>`. The wheel holds the runtime package that embed.package
builds from the modules the pipeline's runtime functions need, documented as in mlspec (its size
does not count against what KFP installations accept); its name is a hash of those files, and
`mlspec build` writes it with the step wheels, so the IR pins exactly what CI publishes.
`mlspec deploy` refuses a runtime wheel that is not published as pinned (deploy/wheels.py).
"""

from __future__ import annotations

from mlspec.backends import lineage
from mlspec.backends.kubeflow import tracking
from mlspec.compiler import ir
from mlspec.delivery import wheel
from mlspec.runtime import embed


def entries(pipeline: ir.Pipeline) -> tuple[str, ...]:
    """The runtime functions that the pipeline's gate and promotion components call (a
    monitor's: its job)."""
    if pipeline.monitor is not None:
        return ("monitor:run_monitor",)
    found = {f"steps:{g.kind}_gate_step" for g in pipeline.gates}
    if lineage.tracked(pipeline):
        found.update(tracking.ENTRIES)
    if pipeline.registry is not None and any(not r.after_rollout for r in pipeline.registry.rules):
        found.add("steps:promotion_step")
    return tuple(sorted(found))


def runtime_wheel(pipeline: ir.Pipeline) -> ir.CodePackage | None:
    """The runtime package that the pipeline's components install as a wheel; None when they
    carry it as text (no `code.wheels` in defaults, a local run, or no runtime component)."""
    found = entries(pipeline)
    if pipeline.runtime_wheels is None or not found:
        return None
    return wheel.runtime_package(embed.package(embed.needed_modules(found)))


def requirements(pipeline: ir.Pipeline) -> tuple[str, ...]:
    """What the runtime components install to get the runtime: its pinned wheel, or nothing."""
    package = runtime_wheel(pipeline)
    if package is None or pipeline.runtime_wheels is None:
        return ()
    return (wheel.requirement(package, pipeline.runtime_wheels),)
