"""The distribution's name and its optional extras: one place for every "install this" hint.

The PyPI name `mlspec` belongs to another project, so mlspec is distributed as `mlspec-gitops`;
the import package and the command are `mlspec`.
"""

from __future__ import annotations

DISTRIBUTION = "mlspec-gitops"


def install_hint(extra: str) -> str:
    """The command that installs an extra, e.g. `pip install 'mlspec-gitops[kubeflow]'`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"
