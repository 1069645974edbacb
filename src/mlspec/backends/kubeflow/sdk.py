"""The kfp SDK: the one place that knows which version mlspec builds with, and loads it lazily."""

from __future__ import annotations

from types import ModuleType

from mlspec.backends.registry import TargetUnavailable
from mlspec.extras import install_hint

# The IR embeds the SDK version (`sdkVersion`, `kfp==...` install lines): output is reproducible
# only with this exact version. pyproject's `kubeflow` extra pins the same.
KFP_VERSION = "2.17.3"
KFP_KUBERNETES_VERSION = "2.17.3"
INSTALL_HINT = install_hint("kubeflow")


class KfpUnavailable(TargetUnavailable):
    """kfp or kfp-kubernetes is missing, or not the version mlspec builds with."""


def load() -> tuple[ModuleType, ModuleType]:
    """(kfp, kfp.kubernetes), checked against the pinned versions."""
    try:
        import kfp
        from kfp import kubernetes
    except ImportError as exc:
        raise KfpUnavailable(
            f"the kubeflow target needs kfp=={KFP_VERSION} and kfp-kubernetes=="
            f"{KFP_KUBERNETES_VERSION} ({exc}); install the extra: {INSTALL_HINT}"
        ) from None
    if kfp.__version__ != KFP_VERSION:
        raise KfpUnavailable(
            f"the kubeflow target builds with kfp=={KFP_VERSION}, but kfp {kfp.__version__} is "
            f"installed; install the extra: {INSTALL_HINT}"
        )
    return kfp, kubernetes
