"""The run's local MLflow registry, as the engine drivers see it: made ready before the run,
its aliases read before and after, so the summary can say what the run promoted.

The drivers do this in the process that imports MLflow for the run anyway (Prefect runs the
flow in the driver, Airflow's dag.test() its tasks), so `mlspec run` never imports MLflow
itself. Standard library and MLflow only: the Prefect and Airflow drivers load this file by its
path (Airflow's environment has no mlspec; importing it from mlspec would import all of
mlspec.run into the Prefect driver first).
"""

from __future__ import annotations

import logging


def start_registered_model(registry_uri: str, model: str) -> None:
    """Create the local registry and the spec's registered model in it, if missing.

    A model gate never takes a registered model that does not exist for a first run (a wrong
    name or a deleted model looks the same), so in a shared registry an operator creates it.
    The local registry belongs to `mlspec run`: a model missing there is a new state folder.
    """
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):  # a new registry logs its migrations at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    if not client.search_registered_models(f"name = '{model}'"):
        client.create_registered_model(model)


def aliases(registry_uri: str, model: str) -> dict[str, str]:
    """The registered model's aliases now ({} when it is not registered yet)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    try:
        found = client.get_registered_model(model).aliases
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in sorted(found.items())}


def ready(registry_uri: str, model: str) -> dict[str, str]:
    """Before the run: the registered model exists; its aliases ("" for no model: {})."""
    if not model:
        return {}
    start_registered_model(registry_uri, model)
    return aliases(registry_uri, model)


def promoted(registry_uri: str, model: str, before: dict[str, str]) -> dict[str, str]:
    """After the run: the aliases it set or moved (alias -> version)."""
    after = aliases(registry_uri, model) if model else {}
    return {alias: version for alias, version in after.items() if before.get(alias) != version}
