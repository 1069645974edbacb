"""The airflow back end: an Airflow 3 DAG file rendered from a template, never importing airflow."""

from mlspec.backends.airflow.backend import AirflowBackend

__all__ = ["AirflowBackend"]
