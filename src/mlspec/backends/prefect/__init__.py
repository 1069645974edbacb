"""The prefect back end: a Prefect 3 flow file and prefect.yaml, never importing prefect."""

from mlspec.backends.prefect.backend import PrefectBackend

__all__ = ["PrefectBackend"]
