"""KServe: one InferenceService whose predictor loads the pinned model version from storage.

KServe's own rollout is Knative's revision traffic, which exists in Knative (serverless) mode
only: every change of the predictor (a new `storageUri`) makes a new revision, and
`canaryTrafficPercent` sends that share of requests to it while the rest stays on the last
revision that had all the traffic. Nothing watches the new revision: KServe has no metric gate.

- canary: exactly one `weight` step, which becomes `canaryTrafficPercent`. The split holds until
  a follow-up commit removes the field, which promotes the new revision (it gets all traffic and
  is the one to fall back to from then on); setting it to 0 rolls back. A final `weight: 100`
  step is not needed for that, and more weight steps, pauses and analysis need a controller
  that walks steps and reads metrics (argo-rollouts, flagger).
- blue_green: a full switch. With `auto_promote: true` the field is left out, and Knative moves
  all traffic to the new revision once it is ready. With `auto_promote: false` it is 0 and tag
  routing is on, so the new revision answers at its `latest-` tag URL for a preview while users
  stay on the old one; promotion is a follow-up commit that sets `auto_promote: true`. The
  preview is that URL, not a Service (`preview_service` is not used), and Knative scales the old
  revision down by itself (`scale_down_delay` is not used either). Promotion analysis and a
  timed promotion need argo-rollouts or flagger.

The deployment mode is `Knative`, the name since KServe 0.16. Its old alias `Serverless` would
fight Argo CD: the defaulting webhook rewrites it to `Knative` (kserve#5025), and the validating
webhook rejects unchanged updates of objects that carry it (kserve#5885).

The port: `service.port` is the predictor's container port, the one the ServingRuntime's server
listens on (8080 for KServe's own runtimes); KServe merges it into the runtime's container and
Knative routes requests to it.

The model: KServe's storage initializer cannot read `models:/` registry URIs, so `storageUri` is
the storage location that CI resolved from the registry alias (`mlspec compile --model-uri`).
The serving image is the ServingRuntime's for `service.model_format`. The predictor `labels`,
which KServe puts on its pods, name the model, alias and version, so that queries split by arm.

Argo CD: the KServe webhook only fills in fields this manifest leaves out, and the controller
writes status alone, so there is nothing to ignore.
"""

from __future__ import annotations

from mlspec.backends.rollout import base
from mlspec.backends.rollout.base import Manifests
from mlspec.backends.rollout.k8s import Doc, document
from mlspec.backends.rollout.release import Release
from mlspec.backends.rollout.workload import resources
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

API_VERSION = "serving.kserve.io/v1beta1"
DEPLOYMENT_MODE = "Knative"
_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
_TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
_REGISTRY_SCHEME = "models:/"
_STEPPING = "argo-rollouts or flagger run canaries in several steps with analysis between"
_NO_GATE = "KServe has no metric gate; argo-rollouts or flagger run the analysis"


class KServe:
    def problems(self, release: Release) -> list[Diagnostic]:
        found = _model_uri_problems(release.rollout)
        strategy = release.rollout.strategy
        if isinstance(strategy, ir.Canary):
            found += _canary_problems(strategy)
        elif isinstance(strategy, ir.BlueGreen):
            found += _blue_green_problems(strategy)
        if release.service.image is not None:
            found.append(
                base.warning(
                    release.service.span,
                    "KServe serves the model with the ServingRuntime for its model_format; "
                    "service.image is not used",
                    "remove 'image', or pick a runtime image in a ServingRuntime",
                )
            )
        return found

    def manifests(self, release: Release) -> Manifests:
        return Manifests(resources=[inference_service(release)])


def inference_service(release: Release) -> Doc:
    annotations = {_MODE_ANNOTATION: DEPLOYMENT_MODE}
    if _previews(release.rollout.strategy):
        annotations[_TAG_ROUTING_ANNOTATION] = "true"
    return document(
        API_VERSION,
        "InferenceService",
        release.name,
        release.namespace,
        labels=release.labels(),
        annotations=annotations,
        spec={"predictor": predictor(release)},
    )


def predictor(release: Release) -> Doc:
    service = release.service
    out: Doc = {"minReplicas": service.replicas}
    percent = canary_traffic_percent(release.rollout.strategy)
    if percent is not None:
        out["canaryTrafficPercent"] = percent
    if release.candidate is not None:
        out["labels"] = release.candidate.labels()
    out["model"] = model(release)
    return out


def model(release: Release) -> Doc:
    out: Doc = {
        "modelFormat": {"name": release.service.model_format},
        "storageUri": release.rollout.model_uri,
        # The port the runtime's server listens on: Knative routes requests there. Unnamed, as
        # Knative allows only `http1` or `h2c` as a name.
        "ports": [{"containerPort": release.service.port, "protocol": "TCP"}],
    }
    amounts = resources(release.service.resources)
    if amounts:
        out["resources"] = amounts
    return out


def canary_traffic_percent(strategy: ir.Strategy) -> int | None:
    """The new revision's share: the canary's one weight, 0 for a blue/green preview, or None
    (the field left out) when the new revision takes all traffic once ready."""
    if isinstance(strategy, ir.Canary):
        return next(s.weight for s in strategy.steps if s.action == "weight")
    if _previews(strategy):
        return 0
    return None


def _previews(strategy: ir.Strategy) -> bool:
    return isinstance(strategy, ir.BlueGreen) and not strategy.auto_promote


# --- what KServe cannot do ------------------------------------------------------------------


def _model_uri_problems(rollout: ir.Rollout) -> list[Diagnostic]:
    uri = rollout.model_uri
    if uri is None:
        return [
            base.error(
                rollout.controller_span,
                "KServe loads the model from storage: pass --model-uri with the storage URI of "
                "the version to roll out",
                "resolve it in CI after the pipeline registered the version; with MLflow: "
                "v = MlflowClient().get_model_version_by_alias(NAME, ALIAS), then "
                "`mlspec compile --model-version <v.version> --model-uri "
                "<MlflowClient().get_model_version_download_uri(NAME, v.version)>`",
            )
        ]
    if uri.startswith(_REGISTRY_SCHEME):
        return [
            base.error(
                rollout.controller_span,
                f"--model-uri {uri} is a registry URI, which KServe's storage initializer "
                "cannot read",
                "pass the version's storage location instead (s3://, gs://, pvc://, https://); "
                "with MLflow: MlflowClient().get_model_version_download_uri(NAME, VERSION)",
            )
        ]
    return []


def _canary_problems(canary: ir.Canary) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    weights = 0
    for step in canary.steps:
        if step.action == "weight":
            weights += 1
            if step.weight == 100:
                found.append(_final_weight(step))
            elif weights > 1:
                found.append(
                    base.error(
                        step.span,
                        "KServe holds one canary percentage: a second weight step cannot run",
                        _STEPPING,
                    )
                )
        else:
            what = "pause" if step.action == "pause" else "analysis step"
            found.append(base.error(step.span, f"KServe cannot run a canary {what}", _STEPPING))
    if canary.analysis:
        found.append(
            base.error(
                canary.span,
                f"KServe cannot run background analysis ({', '.join(canary.analysis)})",
                _NO_GATE,
            )
        )
    return found


def _final_weight(step: ir.CanaryStep) -> Diagnostic:
    return base.error(
        step.span,
        "KServe promotes a canary by removing canaryTrafficPercent, not by a weight-100 step",
        "remove this step: the canary holds its one weight until a follow-up commit removes "
        "the field; for a switch without a canary use blue_green with auto_promote: true",
    )


def _blue_green_problems(blue_green: ir.BlueGreen) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for when, names in (
        ("pre", blue_green.pre_promotion_analysis),
        ("post", blue_green.post_promotion_analysis),
    ):
        if names:
            found.append(
                base.error(
                    blue_green.span,
                    f"KServe cannot run {when}-promotion analysis ({', '.join(names)})",
                    _NO_GATE,
                )
            )
    if blue_green.auto_promote_after_seconds is not None:
        found.append(
            base.error(
                blue_green.span,
                "KServe cannot promote after a delay: it switches as soon as the new revision "
                "is ready (auto_promote: true) or when a commit says so",
                "remove auto_promote_after, or use argo-rollouts for a timed promotion",
            )
        )
    return found
