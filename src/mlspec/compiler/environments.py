"""Environments: one reviewed spec, bound to where it runs (dev, staging, prod).

An environment binds only what legitimately differs (spec.Environment: registry, artifact root,
namespace, image registry, serving size, Prometheus, schedule, secrets, servers) and may make a
gate stricter; `bind` gives the spec as it runs there, which then goes through the same
lowering, checks and back ends as any spec. What runs is the same everywhere by construction:
nothing in an environment can name a step, its wiring, a check's kind or a promotion rule.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlspec.compiler import ir
from mlspec.compiler import spec as s


def names(spec: s.Spec) -> tuple[str, ...]:
    """The spec's environments, in spec order."""
    return tuple(spec.environments)


def bind(spec: s.Spec, name: str) -> s.Spec:
    """The spec as it runs in environment `name` (which the caller checked exists)."""
    env = spec.environments[name]
    update: dict[str, Any] = {}
    if env.artifact_root is not None:
        update["artifact_root"] = env.artifact_root
    if spec.registry is not None and env.registry is not None:
        mlflow = _replace(
            spec.registry.mlflow,
            tracking_uri=env.registry.tracking_uri,
            registered_model=env.registry.registered_model,
        )
        update["registry"] = spec.registry.model_copy(update={"mlflow": mlflow})
    if spec.rollout is not None:
        update["rollout"] = _rollout(spec.rollout, env)
    if spec.schedule is not None and env.schedule is not None:
        update["schedule"] = spec.schedule.model_copy(update={"paused": env.schedule.paused})
    if env.images is not None:
        update["defaults"] = spec.defaults.model_copy(
            update={"image": _mirrored(spec.defaults.image, env.images)}
        )
    update["steps"] = {n: _step(step, env) for n, step in spec.steps.items()}
    if env.secrets:
        update["defaults"] = (update.get("defaults") or spec.defaults).model_copy(
            update={"env": _env(spec.defaults.env, env)}
        )
    if env.gates:
        update["gates"] = {n: _gate(g, env.gates.get(n)) for n, g in spec.gates.items()}
    return spec.model_copy(update=update)


def promoted_only(pipeline: ir.Pipeline, env: s.Environment) -> ir.Pipeline:
    """The bound pipeline of an environment that serves versions proven elsewhere
    (promote_from): its own promotion rules, those that do not wait for the rollout, are left
    out, for they would register and serve a model trained here; `mlspec promote --from` sets
    those aliases with the version that passed there (rules that wait for the rollout stay)."""
    registry = pipeline.registry
    if env.promote_from is None or registry is None:
        return pipeline
    rules = tuple(r for r in registry.rules if r.after_rollout)
    return dataclasses.replace(pipeline, registry=dataclasses.replace(registry, rules=rules))


def _replace(model: Any, **values: Any) -> Any:
    """`model` with the given fields, those that are not None."""
    return model.model_copy(update={k: v for k, v in values.items() if v is not None})


def _mirrored(image: str | None, mirror: s.ImageMirror | None) -> str | None:
    if image is None or mirror is None or not image.startswith(mirror.from_):
        return image
    return mirror.to + image[len(mirror.from_) :]


def _rollout(rollout: s.Rollout, env: s.Environment) -> s.Rollout:
    serving = env.serving or s.Serving()
    service = _replace(
        rollout.service,
        namespace=env.namespace,
        replicas=serving.replicas,
        resources=serving.resources,
        image=_mirrored(rollout.service.image, env.images),
    )
    bound: s.Rollout = _replace(rollout, service=service, prometheus=env.prometheus)
    return bound


def _step(step: s.Step, env: s.Environment) -> s.Step:
    update: dict[str, Any] = {}
    if env.images is not None and step.image is not None:
        update["image"] = _mirrored(step.image, env.images)
    if env.secrets:
        update["env"] = _env(step.env, env)
    return step.model_copy(update=update) if update else step


def _env(values: s.Env, env: s.Environment) -> s.Env:
    """Env variables that read a secret read this environment's (checks: only those)."""
    return {
        name: value.model_copy(update={"secret": env.secrets[name]})
        if value.secret is not None and name in env.secrets
        else value
        for name, value in values.items()
    }


def _gate(gate: s.Gate, override: s.GateOverride | None) -> s.Gate:
    """The gate with its stricter bounds (checks refuse a looser one)."""
    if override is None:
        return gate
    update: dict[str, Any] = {}
    if gate.require is not None and override.require:
        update["require"] = [_tightened(r, override.require.get(r.metric)) for r in gate.require]
    if gate.checks is not None and override.checks:
        update["checks"] = [c for check in gate.checks for c in _checks(check, override.checks)]
    return gate.model_copy(update=update)


def _tightened(model: Any, bounds: s.Tightened | None) -> Any:
    if bounds is None:
        return model
    return _replace(model, min=bounds.min, max=bounds.max)


def _checks(check: s.DataCheck, overrides: dict[str, s.Tightened]) -> list[s.DataCheck]:
    """One data check with its stricter bounds: `row_count` by kind, a column check by
    KIND.COLUMN; a check over several `columns` gives the tightened column a check of its own."""
    kind = check.kind
    body = getattr(check, kind)
    if kind == "row_count":
        return [_replace(check, row_count=_tightened(body, overrides.get(kind)))]
    if kind == "columns" or body.pattern is not None:
        return [check]
    if body.column is not None:
        tightened = _tightened(body, overrides.get(f"{kind}.{body.column}"))
        return [check.model_copy(update={kind: tightened})]
    kept = [c for c in body.columns if f"{kind}.{c}" not in overrides]
    split = [
        check.model_copy(
            update={
                kind: _tightened(
                    body.model_copy(update={"columns": None, "column": c}),
                    overrides[f"{kind}.{c}"],
                )
            }
        )
        for c in body.columns
        if f"{kind}.{c}" in overrides
    ]
    rest = [check.model_copy(update={kind: body.model_copy(update={"columns": kept})})]
    return (rest if kept else []) + split
