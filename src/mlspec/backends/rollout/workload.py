"""The serving pods and Services shared by the controllers that run the spec's image.

The container gets the model to load in the environment (MODEL_URI, MODEL_NAME,
MODEL_VERSION, MLFLOW_TRACKING_URI): `mlflow models serve -m "$MODEL_URI"` and most model
servers read exactly that. The model labels on the pod let analysis queries split by arm.
"""

from __future__ import annotations

from mlspec.backends.rollout import quantity
from mlspec.backends.rollout.k8s import Doc, document
from mlspec.backends.rollout.release import Model, Release
from mlspec.compiler import ir

PORT_NAME = "http"  # Istio picks the protocol from the port name


def resources(res: ir.Resources) -> Doc:
    """Requests equal to limits, as on pipeline steps: predictable placement and no throttling
    surprises; a GPU is a limit only, as Kubernetes requires."""
    amounts: dict[str, str] = {}
    if res.cpu is not None:
        amounts["cpu"] = quantity.cpu(res.cpu)
    if res.memory is not None:
        amounts["memory"] = quantity.memory(res.memory)
    out: Doc = {}
    if amounts:
        out["limits"] = dict(amounts)
        out["requests"] = dict(amounts)
    if res.gpu:
        out.setdefault("limits", {})["nvidia.com/gpu"] = str(res.gpu)
    return out


def model_env(model: Model | None) -> list[Doc]:
    if model is None:
        return []
    env = [
        {"name": "MODEL_URI", "value": model.uri},
        {"name": "MODEL_NAME", "value": model.registered},
        {"name": "MODEL_ALIAS", "value": model.alias},
    ]
    if model.version is not None:
        env.append({"name": "MODEL_VERSION", "value": model.version})
    if model.tracking_uri is not None:
        env.append({"name": "MLFLOW_TRACKING_URI", "value": model.tracking_uri})
    return env


def container(
    release: Release, model: Model | None, env: list[Doc] | None = None, image: str | None = None
) -> Doc:
    service = release.service
    out: Doc = {
        "name": "server",
        "image": image or service.image,
        "ports": [{"name": PORT_NAME, "containerPort": service.port, "protocol": "TCP"}],
    }
    env = [*model_env(model), *(env or [])]
    if env:
        out["env"] = env
    amounts = resources(service.resources)
    if amounts:
        out["resources"] = amounts
    return out


def pod_template(
    release: Release,
    model: Model | None,
    extra_labels: dict[str, str] | None = None,
    *,
    env: list[Doc] | None = None,
    image: str | None = None,
) -> Doc:
    labels = {**release.selector(), **(extra_labels or {})}
    if model is not None:
        labels.update(model.labels())
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [container(release, model, env, image)]},
    }


def workload_spec(
    release: Release,
    model: Model | None,
    *,
    selector: dict[str, str] | None = None,
    extra_labels: dict[str, str] | None = None,
    env: list[Doc] | None = None,
    image: str | None = None,
) -> Doc:
    """The part a Deployment and an Argo Rollout share (replicas, selector, template)."""
    return {
        "replicas": release.service.replicas,
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector or release.selector()},
        "template": pod_template(release, model, extra_labels, env=env, image=image),
    }


def deployment(
    release: Release,
    name: str,
    model: Model | None,
    *,
    selector: dict[str, str] | None = None,
    extra_labels: dict[str, str] | None = None,
    env: list[Doc] | None = None,
    image: str | None = None,
) -> Doc:
    spec = workload_spec(
        release, model, selector=selector, extra_labels=extra_labels, env=env, image=image
    )
    return document(
        "apps/v1", "Deployment", name, release.namespace, labels=release.labels(), spec=spec
    )


def service(release: Release, name: str, selector: dict[str, str] | None = None) -> Doc:
    port = release.service.port
    return document(
        "v1",
        "Service",
        name,
        release.namespace,
        labels=release.labels(),
        spec={
            "selector": selector or release.selector(),
            "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    )
