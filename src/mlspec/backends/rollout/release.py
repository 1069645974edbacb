"""What is being rolled out: the service, the model it serves, and the labels that name both.

The model comes from the promotion rule the rollout names (`rollout.model_alias`). Compiled in
CI after the pipeline registered a version, `--model-version N` pins it: the pod template then
changes with every new version, which is what starts a progressive rollout. Without a pin the
pods load `models:/NAME@ALIAS` and keep whatever version the alias named when they started.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlspec.compiler import ir

MODEL_LABEL = "mlspec.dev/model"
VERSION_LABEL = "mlspec.dev/model-version"
ALIAS_LABEL = "mlspec.dev/model-alias"
TRACK_LABEL = "mlspec.dev/track"  # stable | candidate, where mlspec itself keeps two arms


@dataclass(frozen=True)
class Model:
    registered: str
    alias: str
    version: str | None  # pinned by CI, else resolved by the server from the alias
    tracking_uri: str | None

    @property
    def uri(self) -> str:
        if self.version is not None:
            return f"models:/{self.registered}/{self.version}"
        return f"models:/{self.registered}@{self.alias}"

    def labels(self) -> dict[str, str]:
        labels = {MODEL_LABEL: self.registered, ALIAS_LABEL: self.alias}
        if self.version is not None:
            labels[VERSION_LABEL] = self.version
        return labels


@dataclass(frozen=True)
class Release:
    pipeline: ir.Pipeline
    rollout: ir.Rollout

    @property
    def service(self) -> ir.Service:
        return self.rollout.service

    @property
    def name(self) -> str:
        return self.rollout.service.name

    @property
    def namespace(self) -> str:
        return self.rollout.service.namespace

    @property
    def candidate(self) -> Model | None:
        """The model the rollout brings in, if the service serves a registry model."""
        return self._model(self.rollout.model_alias, self.rollout.model_version)

    @property
    def stable(self) -> Model | None:
        """The model users get today: the alias promoted once a rollout has passed."""
        return self._model(stable_alias(self.pipeline), None)

    def _model(self, alias: str | None, version: str | None) -> Model | None:
        registry = self.pipeline.registry
        if registry is None or alias is None:
            return None
        return Model(registry.registered_model, alias, version, registry.tracking_uri)

    def labels(self) -> dict[str, str]:
        """Labels on every object: what it is, which pipeline made it, with what."""
        return {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/part-of": self.pipeline.name,
            "app.kubernetes.io/version": self.pipeline.version,
            "app.kubernetes.io/managed-by": "mlspec",
        }

    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name}


def stable_alias(pipeline: ir.Pipeline) -> str | None:
    """The alias of the first promotion rule that waits for the rollout (e.g. champion)."""
    if pipeline.registry is None:
        return None
    return next((r.alias for r in pipeline.registry.rules if r.after_rollout), None)
