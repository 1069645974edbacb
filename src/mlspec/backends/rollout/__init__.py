"""The `rollout` target: Kubernetes manifests for the spec's rollout section (see backend.py)."""

from mlspec.backends.rollout.backend import RolloutBackend

__all__ = ["RolloutBackend"]
