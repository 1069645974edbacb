"""The target registry: everything mlspec knows about a target, one entry per target.

A target is a back end (check + emit, `mlspec compile`), optionally a deployer (`mlspec
deploy`) and a local engine (`mlspec run`). Each is named by import path and imported only
when used, so listing targets or validating never imports an orchestrator library. The CLI's
target choices, `mlspec targets` and the tests' target lists all come from `targets()`.

Plug-ins: the `mlspec.targets` entry-point group names a `Target` object; the older
`mlspec.backends` group names a back-end class (a target that compiles only). A plug-in never
shadows a built-in.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mlspec.backends.base import Backend
    from mlspec.deploy.common import DeployerModule
    from mlspec.run.engines import EngineFunction, Refusal

TARGET_GROUP = "mlspec.targets"
ENTRY_POINT_GROUP = "mlspec.backends"


@dataclass(frozen=True)
class Deployer:
    """`mlspec deploy --target T`: a module with SETTINGS, deploy() and offline_plan()."""

    module: str
    extras: tuple[str, ...] = ()  # the optional extras it needs (mlspec.extras)

    def load(self) -> DeployerModule:
        return cast("DeployerModule", importlib.import_module(self.module))


@dataclass(frozen=True)
class Engine:
    """`mlspec run --target T`: "module:function" names an EngineFunction (run/engines.py);
    `refuse` one that raises EngineUnavailable, before anything starts, for what it cannot run."""

    function: str
    extras: tuple[str, ...] = ()
    refuse: str | None = None

    def load(self) -> EngineFunction:
        return cast("EngineFunction", _attribute(self.function))

    def load_refuse(self) -> Refusal:
        if self.refuse is None:
            return _refuse_nothing
        return cast("Refusal", _attribute(self.refuse))


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    backend: str  # "module:Class" of a Backend
    deployer: Deployer | None = None
    engine: Engine | None = None

    def load(self) -> Backend:
        return cast("Backend", _attribute(self.backend)())

    def load_deployer(self) -> DeployerModule:
        if self.deployer is None:
            raise TargetUnavailable(f"target {self.name!r} has no deployer")
        return self.deployer.load()


class TargetUnavailable(Exception):
    """The target cannot compile here (e.g. its optional extra is missing)."""


class UnknownTarget(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown target {name!r}")
        self.name = name


def _refuse_nothing(request: object) -> None:
    pass


def _attribute(location: str) -> Any:
    module, _, attr = location.partition(":")
    return getattr(importlib.import_module(module), attr)


BUILTIN: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ir", "the resolved pipeline IR as JSON", "mlspec.backends.ir_dump:IrBackend"),
        Target(
            "kubeflow",
            "Kubeflow Pipelines v2 IR (YAML) + rollout manifests",
            "mlspec.backends.kubeflow:KubeflowBackend",
            Deployer("mlspec.deploy.kubeflow", ("kubeflow",)),
            Engine(
                "mlspec.run.engines:run_kubeflow",
                ("mlflow", "kubeflow"),
                "mlspec.run.engines:refuse_kubeflow",
            ),
        ),
        Target(
            "airflow",
            "an Airflow 3 DAG file + rollout manifests",
            "mlspec.backends.airflow:AirflowBackend",
            Deployer("mlspec.deploy.airflow", ("airflow",)),
            # Airflow itself runs in an interpreter of its own (--airflow-python).
            Engine(
                "mlspec.run.engines:run_airflow", ("mlflow",), "mlspec.run.engines:refuse_airflow"
            ),
        ),
        Target(
            "prefect",
            "a Prefect 3 flow and prefect.yaml + rollout manifests",
            "mlspec.backends.prefect:PrefectBackend",
            Deployer("mlspec.deploy.prefect", ("prefect",)),
            Engine(
                "mlspec.run.engines:run_prefect",
                ("mlflow", "prefect"),
                "mlspec.run.engines:refuse_prefect",
            ),
        ),
        Target(
            "rollout",
            "Kubernetes rollout manifests only",
            "mlspec.backends.rollout:RolloutBackend",
        ),
    )
}


def targets() -> dict[str, Target]:
    """Every known target: built-ins first, then plug-ins by name. A plug-in that cannot be
    loaded is left out (`plugin_problems` says why), so it never breaks the other targets."""
    found = dict(BUILTIN)
    plugins, _ = _plugins()
    for name in sorted(plugins):
        found.setdefault(name, plugins[name])
    return found


def plugin_problems() -> list[str]:
    """Why each plug-in that `targets` leaves out could not be loaded."""
    return _plugins()[1]


def _plugins() -> tuple[dict[str, Target], list[str]]:
    from importlib.metadata import entry_points  # ~10 ms: not at every start of the command

    plugins: dict[str, Target] = {}
    problems: list[str] = []
    for ep in entry_points(group=TARGET_GROUP):
        where = f"plug-in {ep.name} = {ep.value} (entry point group {TARGET_GROUP})"
        try:
            target = ep.load()
        except Exception as exc:  # any error of someone else's package: report, go on
            problems.append(f"{where} cannot be loaded: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(target, Target):
            problems.append(f"{where} is a {type(target).__name__}, not an mlspec Target")
            continue
        plugins.setdefault(target.name, target)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        plugins.setdefault(ep.name, Target(ep.name, f"plug-in from {ep.value}", ep.value))
    return plugins, problems


def find(name: str) -> Target | None:
    return BUILTIN.get(name) or targets().get(name)


def get(name: str) -> Target:
    """The target called `name`; UnknownTarget if there is none."""
    found = find(name)
    if found is None:
        raise UnknownTarget(name)
    return found


def deployable() -> list[str]:
    """The targets `mlspec deploy` accepts, in registry order."""
    return [t.name for t in targets().values() if t.deployer is not None]


def runnable() -> list[str]:
    """The targets `mlspec run` accepts, in registry order."""
    return [t.name for t in targets().values() if t.engine is not None]
