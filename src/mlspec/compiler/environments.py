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
from mlspec.compiler.source import PathKey, Source

BOUNDS = ("min", "max")

_TIGHTEN = (
    "an environment may only tighten a bound the spec sets: "
    "gates: {GATE: {require: {METRIC: {min|max}}, checks: {row_count|KIND.COLUMN: {min|max}}}}"
)
# Why each part of a spec is the same in every environment (MS271): what was reviewed and
# proven in staging is what runs in production. Keyed by the field's place in an environment.
_FIXED: dict[str, tuple[str, str]] = {
    "steps": (
        "steps, their code and their wiring",
        "an environment binds images (images: {from, to}) and secrets (secrets:), not steps",
    ),
    "defaults": (
        "step defaults",
        "an environment binds images (images: {from, to}) and secrets (secrets:)",
    ),
    "params": (
        "parameters",
        "a run may still pass other values; to require more in one environment, tighten the "
        "gate: gates: {GATE: {require: {METRIC: {min: ...}}}}",
    ),
    "rollout": (
        "the rollout (its strategy, analyses and service)",
        "an environment binds the serving namespace, serving: {replicas, resources}, "
        "prometheus and images",
    ),
    "metadata": (
        "the pipeline's name and version",
        "give an environment its own registry: {registered_model: ...} instead",
    ),
    "registry.promote": (
        "promotion rules",
        "production serves what staging proved: give it `promote_from: staging`",
    ),
}
_CHECKED = {
    f
    for model in (
        s.ModelRequirement,
        s.Bounds,
        s.NullFraction,
        s.ColumnBounds,
        s.Categories,
        s.Drift,
    )
    for f in model.model_fields
} - {"min", "max"}
_FIXED.update(
    {f: _FIXED["rollout"] for f in s.Rollout.model_fields if f != "prometheus"}
    | {f"registry.{f}": _FIXED["registry.promote"] for f in ("external_aliases",)}
    | {
        f"registry.{f}": (
            "what the registry records (the model, its tags and reference)",
            "an environment binds registry: {tracking_uri, registered_model}",
        )
        for f in ("mlflow", "model", "tags", "reference")
    }
    | {
        f"gates.*.{f}": ("a gate's data, serving check and behaviour", _TIGHTEN)
        for f in s.Gate.model_fields
        if f not in ("require", "checks")
    }
    | {
        f"gates.*.*.*.{f}": ("a check's or requirement's kind and operands", _TIGHTEN)
        for f in _CHECKED
    }
    | {
        f"schedule.{f}": (
            "the schedule's cron and time zone",
            "an environment may only pause it: schedule: {paused: true}",
        )
        for f in ("cron", "timezone")
    }
    | {
        f"serving.{f}": (
            "the serving service (its name, port, image and model format)",
            "an environment binds serving: {replicas, resources}, its namespace and images",
        )
        for f in ("name", "port", "image", "model_format")
    }
    | {
        f: (f"'{f}'", "environments bind where the pipeline runs, not what it is")
        for f in ("apiVersion", "kind", "triggers", "monitor", "tests", "environments")
    }
)


def names(spec: s.Spec) -> tuple[str, ...]:
    """The spec's environments, in spec order."""
    return tuple(spec.environments)


def fixed(path: PathKey, field: str) -> tuple[str, str] | None:
    """(message, hint) when `field`, unknown at `path` in the spec, is an attempt to make an
    environment (`path` starts at environments.NAME) differ in what may not differ."""
    inside = [str(p) for p in path[2:]]
    if len(inside) == 4 and inside[0] == "gates":  # gates.G.require|checks.NAME: min|max only
        inside = ["gates", "*", "*", "*"]
    elif len(inside) == 2 and inside[0] == "gates":
        inside = ["gates", "*"]
    why = _FIXED.get(".".join([*inside, field]))
    if path[:1] != ("environments",) or len(path) < 2 or why is None:
        return None
    what, hint = why
    name = path[1]
    return f"{what} cannot differ per environment ({field!r} in environment {name!r})", hint


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
    update["defaults"] = _step(spec.defaults, env)
    update["steps"] = {n: _step(step, env) for n, step in spec.steps.items()}
    if env.gates:
        update["gates"] = {n: _gate(g, env.gates.get(n)) for n, g in spec.gates.items()}
    return spec.model_copy(update=update)


def images(spec: s.Spec) -> list[str]:
    """Every image the spec names (what an image mirror may apply to), in spec order."""
    owners: list[Any] = [spec.defaults, *spec.steps.values()]
    found = [i for o in owners for i in (o.image, o.code.image if o.code else None)]
    if spec.rollout is not None:
        found.append(spec.rollout.service.image)
        found += [arm.image for arm in _arms(spec.rollout)]
    return [i for i in dict.fromkeys(found) if i is not None]


def mirrored(image: str | None, mirror: s.ImageMirror | None) -> str | None:
    """`image` pulled through `mirror`: its prefix replaced when it is one whole part of the
    name (ghcr.io/acme mirrors ghcr.io/acme/x, never ghcr.io/acmecorp/x)."""
    if image is None or mirror is None:
        return image
    prefix = mirror.from_
    rest = image[len(prefix) :]
    whole = prefix.endswith("/") or rest == "" or rest[0] in "/:@"
    if not image.startswith(prefix) or not whole:
        return image
    return mirror.to + rest


def rebased(source: Source, spec: s.Spec, name: str) -> Source:
    """`source` with the positions of the values environment `name` binds moved to where the
    environment writes them: a diagnostic (or a target's) about a bound value points into the
    environment's lines, not at the spec's value it replaced."""
    env = spec.environments[name]
    at: PathKey = ("environments", name)
    moved: dict[PathKey, PathKey] = {
        ("artifact_root",): (*at, "artifact_root"),
        ("registry", "mlflow", "tracking_uri"): (*at, "registry", "tracking_uri"),
        ("registry", "mlflow", "registered_model"): (*at, "registry", "registered_model"),
        ("rollout", "service", "namespace"): (*at, "namespace"),
        ("rollout", "service", "replicas"): (*at, "serving", "replicas"),
        ("rollout", "service", "resources"): (*at, "serving", "resources"),
        ("rollout", "prometheus"): (*at, "prometheus"),
        ("schedule", "paused"): (*at, "schedule", "paused"),
    }
    owners: list[tuple[PathKey, Any]] = [(("defaults",), spec.defaults)]
    owners += [(("steps", n), step) for n, step in spec.steps.items()]
    for path, owner in owners:
        for variable, value in owner.env.items():
            if value.secret is not None and variable in env.secrets:
                moved[(*path, "env", variable, "secret")] = (*at, "secrets", variable)
        for image_path, image in (
            ((*path, "image"), owner.image),
            ((*path, "code", "image"), owner.code and owner.code.image),
        ):
            if mirrored(image, env.images) != image:
                moved[image_path] = (*at, "images", "to")
    if spec.rollout is not None and mirrored(spec.rollout.service.image, env.images) != (
        spec.rollout.service.image
    ):
        moved[("rollout", "service", "image")] = (*at, "images", "to")
    for gate_name, override in env.gates.items():
        gate = spec.gates.get(gate_name)
        if gate is None:
            continue
        here: PathKey = (*at, "gates", gate_name)
        for i, req in enumerate(gate.require or ()):
            for bound in BOUNDS:
                if override.require.get(req.metric) and getattr(req, bound) is not None:
                    moved[("gates", gate_name, "require", i, bound)] = (
                        *here,
                        "require",
                        req.metric,
                        bound,
                    )
        written = len(gate.checks or ())
        for i, check in enumerate(_checks_of(gate, override)):
            key = _key(check)
            if key not in override.checks:
                continue
            if i >= written:  # a column of a list, tightened: a check of its own, at its line
                moved[("gates", gate_name, "checks", i)] = (*here, "checks", key)
                continue
            for bound in BOUNDS:
                moved[("gates", gate_name, "checks", i, check.kind, bound)] = (
                    *here,
                    "checks",
                    key,
                    bound,
                )
    return _moved(source, moved)


def _moved(source: Source, moved: dict[PathKey, PathKey]) -> Source:
    values, keys = dict(source.values), dict(source.keys)
    for nodes, original in ((values, source.values), (keys, source.keys)):
        for target, origin in moved.items():
            if origin not in original:
                continue
            for path in [p for p in nodes if p[: len(target)] == target]:
                del nodes[path]
            for path, node in original.items():
                if path[: len(origin)] == origin:
                    nodes[(*target, *path[len(origin) :])] = node
    return dataclasses.replace(source, values=values, keys=keys)


def _arms(rollout: s.Rollout) -> list[s.Arm]:
    bandit = rollout.strategy.bandit or rollout.strategy.contextual_bandit
    return list(bandit.arms.values()) if bandit is not None else []


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


def _rollout(rollout: s.Rollout, env: s.Environment) -> s.Rollout:
    serving = env.serving or s.Serving()
    service = _replace(
        rollout.service,
        namespace=env.namespace,
        replicas=serving.replicas,
        resources=serving.resources,
        image=mirrored(rollout.service.image, env.images),
    )
    strategy = rollout.strategy
    for kind in ("bandit", "contextual_bandit"):
        bandit = getattr(strategy, kind)
        if bandit is not None and env.images is not None:
            arms = {
                n: arm.model_copy(update={"image": mirrored(arm.image, env.images)})
                for n, arm in bandit.arms.items()
            }
            strategy = strategy.model_copy(update={kind: bandit.model_copy(update={"arms": arms})})
    bound: s.Rollout = _replace(
        rollout, service=service, prometheus=env.prometheus, strategy=strategy
    )
    return bound


def _step(owner: Any, env: s.Environment) -> Any:
    """A step (or the defaults) with its images mirrored and its secrets this environment's."""
    update: dict[str, Any] = {}
    if env.images is not None:
        update["image"] = mirrored(owner.image, env.images)
        if owner.code is not None and owner.code.image is not None:
            code_image = mirrored(owner.code.image, env.images)
            update["code"] = owner.code.model_copy(update={"image": code_image})
    if env.secrets:
        update["env"] = _env(owner.env, env)
    return owner.model_copy(update=update) if update else owner


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
        update["checks"] = _checks_of(gate, override)
    return gate.model_copy(update=update)


def _tightened(model: Any, bounds: s.Tightened | None) -> Any:
    """`model` with the stricter bounds, only those it has (a requirement with `vs` and no
    min keeps none; checks refuse a bound the spec's check lacks)."""
    if bounds is None:
        return model
    return _replace(
        model,
        **{b: getattr(bounds, b) for b in BOUNDS if getattr(model, b, None) is not None},
    )


def _checks_of(gate: s.Gate, override: s.GateOverride) -> list[s.DataCheck]:
    """The gate's data checks with their stricter bounds, each at its own position (so that
    positions in the spec still name them); a check over a list of `columns` whose column is
    tightened gives that column a check of its own, after all the others."""
    checks = list(gate.checks or ())
    split: list[s.DataCheck] = []
    for i, check in enumerate(checks):
        kind = check.kind
        body = getattr(check, kind)
        if kind == "row_count":
            checks[i] = _replace(check, row_count=_tightened(body, override.checks.get(kind)))
        elif kind in ("null_fraction", "range", "drift") and body.column is not None:
            tightened = _tightened(body, override.checks.get(_key(check)))
            checks[i] = check.model_copy(update={kind: tightened})
        elif kind in ("null_fraction", "range", "drift") and body.columns:
            keys = {c: f"{kind}.{c}" for c in body.columns}
            kept = [c for c in body.columns if keys[c] not in override.checks]
            alone = [
                check.model_copy(
                    update={
                        kind: _tightened(
                            body.model_copy(update={"columns": None, "column": c}),
                            override.checks[keys[c]],
                        )
                    }
                )
                for c in body.columns
                if keys[c] in override.checks
            ]
            if kept:
                checks[i] = check.model_copy(
                    update={kind: body.model_copy(update={"columns": kept})}
                )
                split += alone
            else:
                checks[i], split = alone[0], split + alone[1:]
    return checks + split


def _key(check: s.DataCheck) -> str:
    """How an environment names a data check: row_count, or KIND.COLUMN for one column."""
    body = getattr(check, check.kind)
    column = getattr(body, "column", None)
    return check.kind if column is None else f"{check.kind}.{column}"
