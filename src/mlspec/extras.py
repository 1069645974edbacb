"""The distribution's name and its optional extras: one place for every "install this" hint.

The PyPI name `mlspec` belongs to another project, so mlspec is distributed as `mlspec-gitops`;
the import package and the command are `mlspec`.
"""

from __future__ import annotations

DISTRIBUTION = "mlspec-gitops"


def install_hint(extra: str) -> str:
    """The command that installs an extra, e.g. `pip install 'mlspec-gitops[kubeflow]'`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


# The top-level modules each extra installs: checked without importing them.
MODULES: dict[str, tuple[str, ...]] = {
    "kubeflow": ("kfp",),
    "prefect": ("prefect", "prefect_kubernetes"),
    "airflow": ("airflow_client",),
    "mlflow": ("mlflow", "sqlalchemy", "alembic"),
    "plot": ("matplotlib",),
}


class ExtraMissing(Exception):
    """A command needs an optional extra that is not installed; the message says which."""


def require(*extras: str, why: str) -> None:
    """Raise ExtraMissing naming every extra that `why` needs and that is not installed."""
    from importlib.util import find_spec

    missing = [e for e in extras if any(find_spec(m) is None for m in MODULES[e])]
    if missing:
        joined = ",".join(missing)
        raise ExtraMissing(f"{why} needs the optional extra {joined!r}: {install_hint(joined)}")
