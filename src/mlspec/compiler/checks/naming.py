"""Names: reserved names (MS222), and names that a target would turn into one (MS221)."""

from __future__ import annotations

from collections.abc import Sequence

from mlspec.compiler.checks.base import Checker
from mlspec.compiler.fields import RESERVED_NAMES, RESERVED_PREFIXES
from mlspec.compiler.source import PathKey
from mlspec.names import target_key

Named = tuple[PathKey, str, str]  # where, the name, what it names


def check_names(c: Checker) -> None:
    spec = c.spec
    tasks: list[Named] = [(("steps", n), n, "step") for n in spec.steps]
    tasks += [(("gates", n), n, "gate") for n in spec.gates]
    _collisions(c, tasks, "as task names on Kubeflow and Kubernetes")
    for path, name, kind in tasks:
        if name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES:
            c.error(
                path,
                "MS222",
                f"{kind} name {name!r} is reserved",
                "mlspec names its own tasks mlspec_* and promote_*, and reads "
                "'params.' and 'rollout' as keywords; choose another name",
                key=True,
            )
    params: list[Named] = [(("params", n), n, "parameter") for n in spec.params]
    _collisions(c, params, "as pipeline parameters on Kubeflow")
    for step_name, step in spec.steps.items():
        base = ("steps", step_name)
        _collisions(
            c,
            [((*base, "inputs", n), n, "input") for n in step.inputs]
            + [((*base, "outputs", n), n, "output") for n in step.outputs],
            "in the step's function signature, which receives inputs and outputs alike",
        )
    rollout = spec.rollout
    if rollout is None:
        return
    strategy = rollout.strategy
    bandit = strategy.bandit or strategy.contextual_bandit
    if bandit:
        at: PathKey = ("rollout", "strategy", strategy.kind, "arms")
        arms: list[Named] = [((*at, n), n, "arm") for n in bandit.arms]
        _collisions(c, arms, "as Deployment and Service names on Kubernetes")
    _collisions(
        c,
        [(("rollout", "analysis", n), n, "analysis") for n in rollout.analysis],
        "as AnalysisTemplate names on Kubernetes",
    )


def _collisions(c: Checker, entries: Sequence[Named], where: str) -> None:
    """Report names that one target would turn into the same identifier."""
    seen: dict[str, Named] = {}
    for path, name, kind in entries:
        key = target_key(name)
        if key not in seen:
            seen[key] = (path, name, kind)
            continue
        first_path, first, first_kind = seen[key]
        line = c.source.key_span(first_path).line
        clash = "share the name" if first == name else "both become"
        c.error(
            path,
            "MS221",
            f"{kind} {name!r} and {first_kind} {first!r} (line {line}) {clash} {key!r} {where}",
            "rename one of them",
            key=True,
        )
