"""Environments: each binds only sections the spec has, tightens gates without loosening them,
reads secrets only where the spec reads one, promotes from another environment without a
cycle, and keeps its registry aliases apart from the other environments'.

An override of what may not differ is refused earlier, when the spec is read (MS271, parse.py).
"""

from __future__ import annotations

from typing import Any

from mlspec.compiler import spec as s
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.environments import images, mirrored
from mlspec.compiler.fields import IMAGE_RE
from mlspec.compiler.source import PathKey
from mlspec.names import suggest

BOUNDS = ("min", "max")
ALL = "all"  # `compile --env all`: every environment
# Data checks with bounds an environment may tighten, per column (KIND.COLUMN).
COLUMN_KINDS = ("null_fraction", "range", "drift")


def check_environments(c: Checker) -> None:
    for name, env in c.spec.environments.items():
        base: PathKey = ("environments", name)
        if name == ALL:
            c.error(
                base,
                "MS222",
                f"environment name {name!r} is reserved",
                "`mlspec compile --env all` compiles every environment; choose another name",
                key=True,
            )
        _sections(c, name, env, base)
        for gate, override in env.gates.items():
            _gate(c, name, gate, override, (*base, "gates", gate))
        _secrets(c, name, env, base)
        _mirror(c, env, base)
    _promote_from(c)
    _shared_models(c)


def _sections(c: Checker, name: str, env: s.Environment, base: PathKey) -> None:
    """MS278: a binding for a section the spec does not have would silently do nothing."""
    spec = c.spec
    missing = [
        ("registry", "registry", env.registry is not None and spec.registry is None),
        ("promote_from", "registry", env.promote_from is not None and spec.registry is None),
        ("schedule", "schedule", env.schedule is not None and spec.schedule is None),
        *(
            (field, "rollout", getattr(env, field) is not None and spec.rollout is None)
            for field in ("namespace", "serving", "prometheus")
        ),
    ]
    for field, section, wrong in missing:
        if wrong:
            c.error(
                (*base, field),
                "MS278",
                f"environment {name!r} binds {field!r}, but the spec has no {section!r} section",
                f"remove it, or add `{section}:` to the spec",
                key=True,
            )


def _gate(c: Checker, env: str, name: str, override: s.GateOverride, base: PathKey) -> None:
    gate = c.spec.gates.get(name)
    if gate is None:
        declared = ", ".join(c.spec.gates) or "none declared"
        c.error(
            base,
            "MS274",
            f"environment {env!r} tightens gate {name!r}, which the spec does not have",
            suggest(name, c.spec.gates) or f"gates: {declared}",
            key=True,
        )
        return
    for metric, bounds in override.require.items():
        at: PathKey = (*base, "require", metric)
        if not gate.require:
            _lacks(c, env, at, f"gate {name!r} has no model requirements (require:)")
            continue
        found = [r for r in gate.require if r.metric == metric]
        if not found:
            metrics = sorted({r.metric for r in gate.require})
            hint = suggest(metric, metrics) or f"its metrics: {', '.join(metrics)}"
            _lacks(c, env, at, f"gate {name!r} requires nothing of {metric!r}", hint)
            continue
        _bounds(c, env, f"gate {name!r}: {metric}", bounds, found, at)
    for key, bounds in override.checks.items():
        at = (*base, "checks", key)
        if not gate.checks:
            _lacks(c, env, at, f"gate {name!r} has no data checks (checks:)")
            continue
        checked = _data_checks(gate.checks, key)
        if checked is None:
            _lacks(
                c,
                env,
                at,
                f"gate {name!r} has no check {key!r} with bounds",
                "name row_count, or KIND.COLUMN of a check on one column or a list of "
                f"columns ({', '.join(COLUMN_KINDS)}), e.g. null_fraction.age",
            )
            continue
        _bounds(c, env, f"gate {name!r}: {key}", bounds, checked, at)


def _data_checks(checks: list[s.DataCheck], key: str) -> list[Any] | None:
    """The bodies of the checks `key` (row_count or KIND.COLUMN) tightens; None if none."""
    kind, _, column = key.partition(".")
    if kind == "row_count" and not column:
        found = [c.row_count for c in checks if c.row_count is not None]
    elif kind in COLUMN_KINDS and column:
        bodies = [getattr(c, kind) for c in checks if getattr(c, kind) is not None]
        found = [b for b in bodies if b.column == column or column in (b.columns or ())]
    else:
        found = []
    return found or None


def _bounds(
    c: Checker, env: str, what: str, bounds: s.Tightened, found: list[Any], at: PathKey
) -> None:
    """Each bound the environment gives must exist in the spec and be at least as strict."""
    for bound in BOUNDS:
        value = getattr(bounds, bound)
        if value is None:
            continue
        spec_values = [getattr(b, bound, None) for b in found]
        spec_values = [v for v in spec_values if v is not None]
        if not spec_values:
            _lacks(
                c,
                env,
                (*at, bound),
                f"{what} has no {bound} in the spec",
                "a new bound is a new check, and checks are the same in every environment: "
                f"add the {bound} to the spec, then tighten it here",
            )
            continue
        for threshold in spec_values:
            _not_looser(c, env, what, bound, value, threshold, (*at, bound))


def _not_looser(
    c: Checker, env: str, what: str, bound: str, value: float, threshold: Any, at: PathKey
) -> None:
    """MS273 if `value` passes more than the spec's `threshold` (a number or params.NAME,
    judged by the parameter's default)."""
    shown = str(threshold)  # str: an int too large for a float stays printable
    if isinstance(threshold, str):
        param = c.spec.params.get(threshold.removeprefix("params."))
        if param is None or not isinstance(param.default, int | float):
            return  # an unknown or non-numeric parameter: the gate's own checks report it
        shown = f"{threshold} (default {param.default}; a run may pass another value)"
        threshold = param.default
    looser = value < threshold if bound == "min" else value > threshold
    if looser:
        side = "below" if bound == "min" else "above"
        c.error(
            at,
            "MS273",
            f"environment {env!r} loosens {what}: {bound} {value} is {side} the spec's {shown}",
            f"an environment may only tighten a gate: a {bound} "
            f"{'at least' if bound == 'min' else 'at most'} the spec's, or none",
        )


def _lacks(c: Checker, env: str, at: PathKey, what: str, hint: str | None = None) -> None:
    c.error(
        at,
        "MS274",
        f"environment {env!r} tightens what the spec does not have: {what}",
        hint or "an environment may only tighten a bound the spec's gate sets",
        key=True,
    )


def _secrets(c: Checker, name: str, env: s.Environment, base: PathKey) -> None:
    """MS275: only a variable that reads a secret in the spec reads this environment's."""
    owners = [c.spec.defaults.env, *(step.env for step in c.spec.steps.values())]
    reading = sorted({v for env_vars in owners for v, e in env_vars.items() if e.secret})
    for variable in env.secrets:
        if variable not in reading:
            c.error(
                (*base, "secrets", variable),
                "MS275",
                f"environment {name!r} gives a secret for {variable!r}, which reads no secret "
                "in the spec",
                f"variables that read a secret: {', '.join(reading)}"
                if reading
                else f"declare it in the spec first: env: {{{variable}: {{secret: ...}}}}",
                key=True,
            )


def _mirror(c: Checker, env: s.Environment, base: PathKey) -> None:
    """A mirror that matches no image is a typo (warning); a mirrored image must be valid."""
    if env.images is None:
        return
    spec_images = [i for i in images(c.spec) if mirrored(i, env.images) != i]
    if not spec_images:
        c.warning(
            (*base, "images", "from"),
            "MS279",
            f"image mirror {env.images.from_!r} matches no image of the spec",
            "it replaces whole leading parts of an image name (ghcr.io/acme matches "
            "ghcr.io/acme/x, not ghcr.io/acmecorp/x): name the prefix of the spec's images",
        )
    for image in spec_images:
        bound = mirrored(image, env.images)
        if bound is not None and not IMAGE_RE.fullmatch(bound):
            c.error(
                (*base, "images", "to"),
                "MS119",
                f"the mirror makes {image!r} an invalid image reference {bound!r}",
                "give a registry prefix in lower case, e.g. registry.prod.acme.io/acme",
            )
            return


def _promote_from(c: Checker) -> None:
    """MS276: promote_from names another environment, and the chain ends."""
    envs = c.spec.environments
    in_cycle: set[str] = set()
    for name, env in envs.items():
        source = env.promote_from
        if source is None:
            continue
        at: PathKey = ("environments", name, "promote_from")
        if source == name or source not in envs:
            others = [n for n in envs if n != name]
            listed = f"name another environment: {', '.join(others) or 'none declared'}"
            close = suggest(source, others) if source != name else None
            what = "itself" if source == name else f"{source!r}, which is not declared"
            c.error(at, "MS276", f"environment {name!r} promotes from {what}", close or listed)
            continue
        chain = [name]
        while (step := envs[chain[-1]].promote_from) in envs and step not in chain:
            chain.append(step)
        if step == name and name not in in_cycle:
            in_cycle.update(chain)
            c.error(
                at,
                "MS276",
                f"environments promote from each other in a cycle: {' <- '.join([*chain, name])}",
                "one environment (e.g. dev or staging) must promote what its own run proves: "
                "remove its promote_from",
            )


def _shared_models(c: Checker) -> None:
    """MS277: environments that promote into one registered model on one server would move
    each other's aliases (staging's challenger would be production's)."""
    registry = c.spec.registry
    if registry is None or not registry.promote:
        return
    owners: dict[tuple[str, str], str] = {}
    for name, env in c.spec.environments.items():
        bound = env.registry or s.EnvRegistry()
        uri = bound.tracking_uri or registry.mlflow.tracking_uri
        model = bound.registered_model or registry.mlflow.registered_model
        if uri is None:
            continue  # the server each environment's MLFLOW_TRACKING_URI names
        first = owners.setdefault((uri, model), name)
        if first != name:
            at: PathKey = ("environments", name)
            c.error(
                (*at, "registry") if c.source.has((*at, "registry")) else at,
                "MS277",
                f"environments {first!r} and {name!r} promote into registered model "
                f"{model!r} on {uri}: their aliases would move each other's",
                f"give {name!r} its own: registry: {{registered_model: {model}-{name}}}, "
                "or its own tracking_uri",
                key=True,
            )
