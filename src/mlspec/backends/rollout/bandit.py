"""Bandit rollouts on Istio, steered by mlspec's own bandit controller.

No progressive-delivery controller routes by bandit, so mlspec ships one (`mlspec
bandit-controller`, image built from docker/bandit-controller/Dockerfile). It adjusts the weights
of one VirtualService that nothing else manages: Argo Rollouts and Flagger reset foreign edits
of the routes they own, so a bandit never shares its routing object with them.

Objects, all in the service's namespace:

- per arm: a Deployment and a Service `<name>-<arm>` (pods labelled `mlspec.dev/arm` and given
  `MLSPEC_ARM`, so the server can label the metrics the reward queries read);
- a Service `<name>` over every arm: the address callers keep;
- the VirtualService `<name>`: for a contextual bandit one route per segment (`segment-<s>`,
  matching the context header exactly) and a `default` route; a plain bandit has `default`
  only. Every route starts with an equal split; the controller owns the weights from then on;
- the controller: a ConfigMap `<name>-bandit` holding its configuration (`config.json`, see
  `mlspec.bandit.config`), a ServiceAccount, a Role that may only get and patch that one
  VirtualService (the controller keeps its state in an annotation of it, so it needs nothing
  else), a RoleBinding, and a one-replica Deployment (Recreate: never two controllers).

Argo CD must leave the route weights and the state annotation to the controller.
"""

from __future__ import annotations

import hashlib
import zlib

from mlspec import __version__
from mlspec.backends.rollout import base, workload
from mlspec.backends.rollout.base import Manifests
from mlspec.backends.rollout.k8s import Doc, document
from mlspec.backends.rollout.matching import header_name
from mlspec.backends.rollout.release import Model, Release
from mlspec.bandit import policy
from mlspec.bandit.config import DEFAULT_SEGMENT, STATE_ANNOTATION, Config, Guardrail
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic
from mlspec.names import target_key

ARM_LABEL = "mlspec.dev/arm"
CONTROLLER_IMAGE = f"ghcr.io/mlspec/bandit-controller:{__version__}"
CONFIG_DIR = "/etc/mlspec-bandit"


class BanditController:
    def problems(self, release: Release) -> list[Diagnostic]:
        bandit = _bandit(release)
        found = []
        longest = max(bandit.arms, key=lambda arm: len(target_key(arm.name)))
        if len(_arm_name(release, longest)) > 63:
            found.append(
                base.error(
                    longest.span,
                    f"the arm's Deployment name {_arm_name(release, longest)} is longer than "
                    "63 characters",
                    "shorten the service or the arm name",
                )
            )
        metrics = {m.name: m for m in release.rollout.analysis}
        for name in bandit.guardrails:
            metric = metrics[name]
            if metric.provider != "prometheus" or "$arm" not in (metric.query or ""):
                found.append(
                    base.error(
                        metric.span,
                        f"guardrail {name!r} is checked per arm: it must be a Prometheus query "
                        "that contains '$arm'",
                        'e.g. sum(rate(http_errors_total{arm="$arm"}[5m])) / '
                        'sum(rate(http_requests_total{arm="$arm"}[5m]))',
                    )
                )
            elif any(
                p in (metric.query or "") for p in (ir.CANARY_PLACEHOLDER, ir.STABLE_PLACEHOLDER)
            ):
                found.append(
                    base.error(
                        metric.span,
                        f"guardrail {name!r} holds ${{canary}} or ${{stable}}, which the bandit "
                        "controller does not fill in: it asks Prometheus once per arm with "
                        "'$arm' replaced",
                        "select the arm with '$arm' alone, e.g. {arm=\"$arm\"}",
                    )
                )
        return found

    def manifests(self, release: Release) -> Manifests:
        bandit = _bandit(release)
        config = bandit_config(release)
        out = Manifests()
        for arm in bandit.arms:
            out.resources += [_arm_deployment(release, arm), _arm_service(release, arm)]
        out.resources += [
            workload.service(release, release.name),
            _virtual_service(release, config),
            *_controller(release, config),
        ]
        out.ignore_differences.append(
            base.ignore(
                "networking.istio.io",
                "VirtualService",
                release.name,
                release.namespace,
                jqPathExpressions=[".spec.http[].route[].weight"],
                jsonPointers=["/metadata/annotations/" + STATE_ANNOTATION.replace("/", "~1")],
            )
        )
        return out


def _bandit(release: Release) -> ir.Bandit:
    strategy = release.rollout.strategy
    assert isinstance(strategy, ir.Bandit)
    return strategy


def _arm_name(release: Release, arm: ir.Arm) -> str:
    return f"{release.name}-{target_key(arm.name)}"


def _host(release: Release, name: str) -> str:
    return f"{name}.{release.namespace}.svc.cluster.local"


def bandit_config(release: Release) -> Config:
    bandit = _bandit(release)
    metrics = {m.name: m for m in release.rollout.analysis}
    prometheus = release.rollout.prometheus
    assert prometheus is not None, "checked: a bandit needs rollout.prometheus"
    return Config(
        namespace=release.namespace,
        virtual_service=release.name,
        prometheus=prometheus,
        algorithm=bandit.algorithm,
        arms={a.name: _host(release, _arm_name(release, a)) for a in bandit.arms},
        successes=bandit.reward_successes,
        trials=bandit.reward_trials,
        interval_seconds=bandit.interval_seconds,
        exploration_floor=bandit.exploration_floor,
        max_step=bandit.max_step,
        epsilon=bandit.epsilon,
        guardrails=tuple(
            Guardrail(n, metrics[n].query or "", _number(metrics[n].min), _number(metrics[n].max))
            for n in bandit.guardrails
        ),
        stop_p_best=bandit.stop_p_best,
        stop_max_duration_seconds=bandit.stop_max_duration_seconds,
        no_data_pause_intervals=bandit.no_data_pause_intervals,
        context_header=header_name(bandit.context_header) if bandit.context_header else None,
        segments=bandit.segments,
        # Fixed per service: a restarted controller, and `mlspec simulate`, draw the same numbers.
        seed=zlib.crc32(f"{release.pipeline.name}/{release.name}".encode()),
    )


def _number(value: ir.Threshold | None) -> float | None:
    assert value is None or isinstance(value, float), "rollout thresholds are numbers"
    return value


def _arm_model(release: Release, arm: ir.Arm) -> Model | None:
    registry = release.pipeline.registry
    if registry is None or arm.model_alias is None:
        return None
    pinned = (
        release.rollout.model_version if arm.model_alias == release.rollout.model_alias else None
    )
    return Model(registry.registered_model, arm.model_alias, pinned, registry.tracking_uri)


def _arm_deployment(release: Release, arm: ir.Arm) -> Doc:
    labels = {ARM_LABEL: arm.name}
    return workload.deployment(
        release,
        _arm_name(release, arm),
        _arm_model(release, arm),
        selector={**release.selector(), **labels},
        extra_labels=labels,
        env=[{"name": "MLSPEC_ARM", "value": arm.name}],
        image=arm.image,
    )


def _arm_service(release: Release, arm: ir.Arm) -> Doc:
    return workload.service(
        release, _arm_name(release, arm), selector={**release.selector(), ARM_LABEL: arm.name}
    )


def _virtual_service(release: Release, config: Config) -> Doc:
    start = policy.initial_weights(config.arms, config.exploration_floor)
    destinations: list[Doc] = [
        {"destination": {"host": host}, "weight": start[arm]} for arm, host in config.arms.items()
    ]
    http = []
    for segment in config.routes:
        route: Doc = {"name": config.route(segment)}
        if segment != DEFAULT_SEGMENT:
            route["match"] = [{"headers": {config.context_header: {"exact": segment}}}]
        route["route"] = [dict(d, destination=dict(d["destination"])) for d in destinations]
        http.append(route)
    return document(
        "networking.istio.io/v1",
        "VirtualService",
        release.name,
        release.namespace,
        labels=release.labels(),
        spec={"hosts": [_host(release, release.name)], "http": http},
    )


def _controller(release: Release, config: Config) -> list[Doc]:
    name = f"{release.name}-bandit"
    labels = {**release.labels(), "app.kubernetes.io/component": "bandit-controller"}
    selector = {"app.kubernetes.io/name": name}
    config_text = config.to_json()
    role_rule = {
        "apiGroups": ["networking.istio.io"],
        "resources": ["virtualservices"],
        "resourceNames": [release.name],
        "verbs": ["get", "patch"],
    }
    pod = {
        "metadata": {
            "labels": selector,
            # A new configuration restarts the controller, which then reads it.
            "annotations": {
                "mlspec.dev/config-sha256": hashlib.sha256(config_text.encode()).hexdigest()
            },
        },
        "spec": {
            "serviceAccountName": name,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
            "containers": [
                {
                    "name": "controller",
                    "image": CONTROLLER_IMAGE,
                    "args": ["bandit-controller", "--config", f"{CONFIG_DIR}/config.json"],
                    "resources": {
                        "limits": {"cpu": "200m", "memory": "128Mi"},
                        "requests": {"cpu": "50m", "memory": "128Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "config", "configMap": {"name": name}}],
        },
    }
    ns = release.namespace
    return [
        document("v1", "ConfigMap", name, ns, labels=labels)
        | {"data": {"config.json": config_text}},
        document("v1", "ServiceAccount", name, ns, labels=labels),
        document("rbac.authorization.k8s.io/v1", "Role", name, ns, labels=labels)
        | {"rules": [role_rule]},
        document("rbac.authorization.k8s.io/v1", "RoleBinding", name, ns, labels=labels)
        | {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        },
        document(
            "apps/v1",
            "Deployment",
            name,
            ns,
            labels=labels,
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": pod,
            },
        ),
    ]
