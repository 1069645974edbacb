"""Finding back ends: the built-ins, then the `mlspec.backends` entry-point group.

Built-ins are named by import path and imported only when used, so that listing or validating
never imports an orchestrator library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from mlspec.backends.base import Backend

ENTRY_POINT_GROUP = "mlspec.backends"


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    location: str | None  # "module:Class"; None while the target is planned but not built

    def load(self) -> Backend:
        if self.location is None:
            raise TargetUnavailable(
                f"target {self.name!r} is planned but not built yet in this version of mlspec"
            )
        module, _, attr = self.location.partition(":")
        return getattr(importlib.import_module(module), attr)()


class TargetUnavailable(Exception):
    pass


BUILTIN: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ir", "the resolved pipeline IR as JSON", "mlspec.backends.ir_dump:IrBackend"),
        Target(
            "kubeflow",
            "Kubeflow Pipelines v2 IR (YAML) + rollout manifests",
            "mlspec.backends.kubeflow:KubeflowBackend",
        ),
        Target(
            "airflow",
            "an Airflow 3 DAG file + rollout manifests",
            "mlspec.backends.airflow:AirflowBackend",
        ),
        Target(
            "prefect",
            "a Prefect 3 flow and prefect.yaml + rollout manifests",
            "mlspec.backends.prefect:PrefectBackend",
        ),
        Target(
            "rollout",
            "Kubernetes rollout manifests only",
            "mlspec.backends.rollout:RolloutBackend",
        ),
    )
}


def targets() -> dict[str, Target]:
    """Every known target: built-ins first, then plug-ins (which cannot shadow a built-in)."""
    found = dict(BUILTIN)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        found.setdefault(ep.name, Target(ep.name, f"plug-in from {ep.value}", ep.value))
    return found


def find(name: str) -> Target | None:
    return BUILTIN.get(name) or targets().get(name)
