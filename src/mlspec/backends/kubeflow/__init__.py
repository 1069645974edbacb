"""The `kubeflow` target: KFP v2 pipeline IR (YAML) built with the kfp SDK.

Importing this package does not import kfp: the SDK is loaded inside `emit` (see `sdk.py`).
"""

from mlspec.backends.kubeflow.backend import KubeflowBackend

__all__ = ["KubeflowBackend"]
