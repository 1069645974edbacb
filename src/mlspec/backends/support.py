"""Every spec field, per target: honoured, warned about (MS302) or refused (MS301). One table.

`TABLE` maps each field of the spec models (`compiler/spec.py`), by path (`steps.*.caching`;
`*` stands for a name or a list position), to an entry per column. The pipeline targets'
columns are `kubeflow`, `airflow`, `prefect` and `rollout` (fields outside `rollout:` that the
manifests also use); `rollout.*` fields have one column per controller, since every target
writes the same manifests under `rollout/` (or alone, with `--target rollout`).

- honoured: the output follows the field; the note says how where that is not obvious.
- warn: in the cases the note names, the target does something else and says so (MS302).
- refuse: in the cases the note names, the target cannot express it (MS301).
- n/a: the column writes nothing the field is about (the rollout target and a step; step tests,
  `NOT_COMPILED`, on every column).

A warn or refuse entry with a `find` function (field_checks.py) is reported from here, by
`problems`, which every back end's `check` calls; the others are reported by the controller's
own checks (rollout/*.py), which the note describes. Tests keep
the table complete (every field of the models, every column), check that each warn and refuse
entry produces its diagnostic and that each honoured field changes the output, and keep
docs/targets/support.md equal to `markdown()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlspec.backends.field_checks import (
    Finder,
    artifact_root_uri,
    blue_green_extras,
    caching_without_cache,
    env_params,
    flagger_analysis_steps,
    flagger_counts,
    flagger_no_data,
    guardrail_dry_run,
    guardrail_no_data,
    guardrail_settings,
    kfp_collected_artifacts,
    kfp_event_triggers,
    kfp_gate_layout,
    load_unused,
    model_format_unused,
    prefect_placeholders,
    prometheus_unused,
    python_step_placement,
    python_step_secrets,
    python_step_settings,
    schedule_zone,
    smoke_unsupported,
    task_descriptions,
    unused_analysis,
)
from mlspec.backends.rollout.base import CHANGED_ON_TARGET, CONTROLLERS, NOT_EXPRESSIBLE, SUPPORT
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Severity

Status = Literal["honoured", "warn", "refuse", "n/a"]
CODES = {"warn": CHANGED_ON_TARGET, "refuse": NOT_EXPRESSIBLE}
PIPELINE_COLUMNS = ("kubeflow", "airflow", "prefect", "rollout")


@dataclass(frozen=True)
class Entry:
    status: Status
    note: str = ""
    find: Finder | None = None  # reports the uses; None: the controller's own checks do


def ok(note: str = "") -> Entry:
    return Entry("honoured", note)


def warn(note: str, find: Finder | None = None) -> Entry:
    return Entry("warn", note, find)


def refuse(note: str, find: Finder | None = None) -> Entry:
    return Entry("refuse", note, find)


NA = Entry("n/a")


def columns(path: str) -> tuple[str, ...]:
    return CONTROLLERS if path.startswith("rollout") else PIPELINE_COLUMNS


def problems(column: str, pipeline: ir.Pipeline) -> list[Diagnostic]:
    """The diagnostics this table's finders report for `column` (a target or a controller)."""
    found: list[Diagnostic] = []
    seen: set[Finder] = set()
    for entries in TABLE.values():
        entry = entries.get(column)
        if entry is None or entry.find is None or entry.find in seen:
            continue
        seen.add(entry.find)
        severity: Severity = "warning" if entry.status == "warn" else "error"
        for span, message, hint in entry.find(pipeline, column):
            found.append(Diagnostic(span, CODES[entry.status], message, hint, severity=severity))
    return found


# --- the table --------------------------------------------------------------------------------


def _each(paths: str) -> list[str]:
    """Field paths written in one string, separated by spaces."""
    return paths.split()


def pipelines(
    kubeflow: Entry, airflow: Entry, prefect: Entry, rollout: Entry = NA
) -> dict[str, Entry]:
    return {"kubeflow": kubeflow, "airflow": airflow, "prefect": prefect, "rollout": rollout}


def everywhere(entry: Entry, rollout: Entry = NA) -> dict[str, Entry]:
    """The same on every pipeline target."""
    return pipelines(entry, entry, entry, rollout)


def controllers(
    argo: Entry,
    flagger: Entry | None = None,
    kserve: Entry | None = None,
    istio: Entry | None = None,
) -> dict[str, Entry]:
    """Per controller; an omitted one is as argo-rollouts."""
    return {
        "argo-rollouts": argo,
        "flagger": flagger or argo,
        "kserve": kserve or argo,
        "istio": istio or argo,
    }


_WORKER_SETTING = warn(
    "Python and notebook steps run in the worker (not applied); container steps: honoured",
    python_step_settings,
)
_SECRET = refuse(
    "Python and notebook steps run in the worker, which cannot read a Kubernetes secret; "
    "container steps: "
    "honoured",
    python_step_secrets,
)
_KFP_TRIGGERS = "KFP has recurring runs only: a schedule, or runs started from outside (MS301)"
# A Monitor spec's job (docs/continuous-training.md): every pipeline target runs
# runtime.monitor.run_monitor in a task `monitor` with the fields as taskdata.monitor_data
# passes them; the alarm is the target's event. The rollout manifests use none of it.
_MONITOR_JOB = pipelines(
    ok(
        "the `monitor` component (kfp's local runner or the cluster) outputs `breached` and "
        "the report; no event (a `monitor:` trigger is refused)"
    ),
    ok("the `monitor` task; the `alarm` task raises the asset mlspec://monitor/NAME/breach"),
    ok("the `monitor` task; the flow emits mlspec.monitor.breach of mlspec.monitor.NAME"),
)
_KFP_ENV_PARAM = refuse("KFP sets env values at compile time", env_params)
# Step tests (`tests:`) run in-process under `mlspec test`: no target compiles them.
NOT_COMPILED = ("tests",)
_NOT_COMPILED = everywhere(Entry("n/a", "run by `mlspec test`, not compiled"))


# Loops (compiler/fanout.py, docs/loops.md): each engine runs a loop natively, over the list
# written in the spec or a list parameter's value when the run starts.
_FAN_OUT = {
    "steps.*.for_each": pipelines(
        refuse(
            "one dsl.ParallelFor per loop, over the list or the list parameter, per-item gates "
            "inside it; a step after it reads its outputs as a dsl.Collected list; refused: "
            "reading a loop's artifacts inside a gate's dsl.If that the loop is not in (kfp "
            "cannot compile it)",
            kfp_collected_artifacts,
        ),
        ok(
            "a mapped task group over the list (or the list Param), one mapped task per item; "
            "a step without for_each reads the list of every item's output"
        ),
        ok(
            "task.map over the list (or the list flow parameter); a step without for_each "
            "reads the list of every item's output"
        ),
    ),
    "steps.*.inputs.*.item": pipelines(
        ok("the ParallelFor's item"),
        ok("the element: a value of its iteration"),
        ok("the element: a value of its iteration"),
    ),
}


def _step_settings(prefix: str) -> dict[str, dict[str, Entry]]:
    """Fields that `defaults` and each step share."""
    setting = pipelines(ok("on the step's pod"), _WORKER_SETTING, _WORKER_SETTING)
    return {
        f"{prefix}.image": setting,
        f"{prefix}.packages": pipelines(
            ok("installed before the step runs"), _WORKER_SETTING, _WORKER_SETTING
        ),
        f"{prefix}.retries": everywhere(ok()),
        f"{prefix}.timeout": pipelines(
            ok("the pod's active deadline"),
            ok("execution_timeout"),
            ok("the task's timeout; it interrupts a Python step between instructions"),
        ),
        f"{prefix}.caching": pipelines(
            ok("enableCache"),
            warn("Airflow has no task caching", caching_without_cache),
            ok(
                "a cache policy on the step, its inputs (artifacts by content), env and code; "
                "results under the artifact root"
            ),
        ),
        f"{prefix}.resources": setting,
        f"{prefix}.resources.cpu": setting,
        f"{prefix}.resources.memory": setting,
        **_placement_settings(prefix),
        f"{prefix}.env": everywhere(ok()),
        f"{prefix}.env.*.value": everywhere(ok()),
        f"{prefix}.env.*.secret": pipelines(ok(), _SECRET, _SECRET),
        f"{prefix}.env.*.secret.name": pipelines(ok(), _SECRET, _SECRET),
        f"{prefix}.env.*.secret.key": pipelines(ok(), _SECRET, _SECRET),
        f"{prefix}.env.*.param": pipelines(_KFP_ENV_PARAM, ok(), ok()),
        **_code_settings(prefix),
    }


_PLACED = warn(
    "Python steps run in the worker (not applied); container steps: on the step's pod",
    python_step_placement,
)


def _placement_settings(prefix: str) -> dict[str, dict[str, Entry]]:
    """Accelerators, node selector and tolerations: kfp-kubernetes' and the pods' own."""
    accelerator = pipelines(ok("set_accelerator_type and set_accelerator_limit"), _PLACED, _PLACED)
    selector = pipelines(ok("kfp-kubernetes add_node_selector"), _PLACED, _PLACED)
    toleration = pipelines(ok("kfp-kubernetes add_toleration"), _PLACED, _PLACED)
    return {
        f"{prefix}.accelerator": accelerator,
        f"{prefix}.accelerator.type": accelerator,
        f"{prefix}.accelerator.count": accelerator,
        f"{prefix}.node_selector": selector,
        f"{prefix}.tolerations": toleration,
        **{
            f"{prefix}.tolerations.*.{key}": toleration
            for key in ("key", "operator", "value", "effect", "toleration_seconds")
        },
    }


# How a Python step's code reaches its worker (docs/code-delivery.md). A Python step that has
# no way to get its code on the target is an error at the step (MS303), from the back end.
# The ways in `code:` deliver one pinned package; a target takes the one its workers can
# receive. The others lose nothing there (the digest that runs is the same), and a target whose
# workers get no code at all is told so by its own diagnostic (MS303, or MS302 for Prefect
# without code.git), so they are not warned about one by one.
_GIT = pipelines(
    ok("not used: components get the same pinned package from code.wheels or code.image"),
    ok(
        "not needed: the compiled folder carries the pinned copy that `mlspec deploy` places; "
        "a git-synced DAG bundle of that folder carries it too"
    ),
    ok(
        "a git_clone pull step at the commit; the flow runs from git.path; a flow run has one, "
        "so steps with different ones are refused (MS301)"
    ),
)


def _code_settings(prefix: str) -> dict[str, dict[str, Entry]]:
    code = f"{prefix}.code"
    return {
        code: pipelines(
            ok("a step package, a wheel location or an image per Python step, else MS303"),
            ok("the step package is copied beside the DAG, pinned by its digest"),
            ok("the step package is copied beside the flow, pinned by its digest"),
        ),
        f"{code}.root": pipelines(
            ok("where the step package is read: its wheel's sha256 is pinned"),
            ok("where the step package is read: the copy beside the DAG"),
            ok("where the step package is read: the copy beside the flow"),
        ),
        f"{code}.wheels": pipelines(
            ok(
                "components pip-install the pinned wheel: name @ URL#sha256=...; in defaults, "
                "the gates install mlspec's runtime as a pinned wheel too"
            ),
            ok("not needed: the same pinned package is copied beside the DAG"),
            ok("not needed: the same pinned package is copied beside the flow"),
        ),
        f"{code}.image": pipelines(
            ok("Python steps without an image of their own run on it"),
            warn("Python steps run in the worker, from the package copied beside the DAG"),
            ok(
                "the work pool's job variables image; a flow run has one, so steps with "
                "different ones are refused (MS301)"
            ),
        ),
        f"{code}.git": _GIT,
        f"{code}.git.url": _GIT,
        f"{code}.git.commit": _GIT,
        f"{code}.git.path": _GIT,
    }


_CHECKED = ok("checked by `mlspec validate`")
_ARTIFACT_ROOT_WARNING = warn(
    "a URI (not a filesystem path): tasks need MLSPEC_ARTIFACT_ROOT", artifact_root_uri
)
_DESCRIBED = pipelines(
    warn("KFP's IR has no description per task", task_descriptions),
    ok("doc_md"),
    warn("Prefect keeps no description per task run", task_descriptions),
)
_CHECK_FIELD = everywhere(ok("by mlspec's gate runtime"))
_COLUMN_CHECKS = ("null_fraction", "range", "categories", "drift")  # column, columns or pattern
# The gate's task starts the server beside itself (localhost, an environment of its own).
_SERVING_FIELD = everywhere(ok("by mlspec's serving runtime, in the gate's task"))


def _environment_rows() -> dict[str, dict[str, Entry]]:
    """`environments.*`: `compile --env NAME` binds one environment into the spec's own fields,
    so each binding is honoured (or not) as the field it replaces; the rollout column where
    the manifests hold it."""
    bound = "`compile --env`: as "
    serving = ok(bound + "rollout.service, in the manifests under rollout/")
    deploy = ok("read by `mlspec deploy --env`; not in the compiled files")
    rows = {
        "": everywhere(
            ok("`compile --env NAME` binds one; `--env all` each into OUTPUT/NAME/"), ok()
        ),
        ".registry": everywhere(ok(), ok()),
        ".registry.tracking_uri": everywhere(
            ok(bound + "registry.mlflow.tracking_uri"), ok("MLFLOW_TRACKING_URI of the pods")
        ),
        ".registry.registered_model": everywhere(
            ok(bound + "registry.mlflow.registered_model"), ok("MODEL_NAME and labels")
        ),
        ".artifact_root": pipelines(
            ok(bound + "artifact_root (pipeline_root)"),
            _ARTIFACT_ROOT_WARNING,
            _ARTIFACT_ROOT_WARNING,
        ),
        ".namespace": everywhere(serving, ok("the namespace of every object")),
        ".prometheus": everywhere(
            ok(bound + "rollout.prometheus, in the manifests under rollout/"), ok()
        ),
        ".schedule": pipelines(ok("a recurring run, by `mlspec deploy`"), ok(), ok()),
        ".schedule.paused": pipelines(
            ok("the recurring run disabled, by `mlspec deploy`"), ok(), ok()
        ),
        ".deploy": everywhere(deploy),
        ".promote_from": everywhere(
            ok("read by `mlspec promote --env`: the version the other environment proved")
        ),
        ".gates": everywhere(ok(bound + "the gate's bounds")),
    }
    rows |= {
        f".images{p}": everywhere(
            ok(bound + "every image the spec names (steps, defaults, code.image, serving)"),
            ok("the serving image"),
        )
        for p in ("", ".from", ".to")
    }
    rows |= {
        f".serving{p}": everywhere(serving, ok())
        for p in ("", ".replicas", ".resources", ".resources.cpu", ".resources.memory")
    }
    rows[".serving.resources.gpu"] = everywhere(serving, ok())
    rows |= {f".deploy.{t}": everywhere(deploy) for t in ("kubeflow", "airflow", "prefect")}
    rows[".deploy.cluster"] = everywhere(
        ok("the Argo CD Application's destination in the GitOps tree (`--target rollout`)")
    )
    rows |= {
        f".secrets{p}": pipelines(ok(bound + "steps.*.env.*.secret"), _SECRET, _SECRET)
        for p in ("", ".*.name", ".*.key")
    }
    rows |= {
        f".gates.*.{part}{p}": everywhere(ok(bound + f"the gate's {part}"))
        for part in ("require", "checks")
        for p in ("", ".*.min", ".*.max")
    }
    return {f"environments.*{path}" if path else "environments": e for path, e in rows.items()}


PIPELINE_TABLE: dict[str, dict[str, Entry]] = {
    "apiVersion": everywhere(_CHECKED, _CHECKED),
    "kind": everywhere(_CHECKED, _CHECKED),
    "metadata": everywhere(ok(), ok()),
    "metadata.name": everywhere(ok(), ok("label app.kubernetes.io/part-of")),
    "metadata.version": everywhere(ok(), ok("label app.kubernetes.io/version")),
    "metadata.description": everywhere(ok()),
    "metadata.owners": pipelines(
        ok("pod annotation mlspec.dev/owners"), ok("the DAG's owner"), ok("tags owner:NAME")
    ),
    "metadata.labels": pipelines(ok("pod labels"), ok("DAG tags KEY:VALUE"), ok("tags KEY:VALUE")),
    "params": everywhere(ok()),
    "params.*.type": everywhere(
        ok("list[str], list[int], list[float]: a run parameter only for_each reads")
    ),
    "params.*.default": pipelines(
        ok(),
        ok(),
        refuse("a default containing '{{' (prefect.yaml placeholders)", prefect_placeholders),
    ),
    "params.*.description": pipelines(
        ok("the pipeline's parameter docs"), ok("Param description"), ok("the flow's docstring")
    ),
    "defaults": everywhere(ok()),
    **_step_settings("defaults"),
    "artifact_root": pipelines(ok("pipeline_root"), _ARTIFACT_ROOT_WARNING, _ARTIFACT_ROOT_WARNING),
    "steps": everywhere(ok()),
    "steps.*.python": everywhere(ok()),
    "steps.*.container": everywhere(ok()),
    "steps.*.container.command": everywhere(ok()),
    "steps.*.container.args": everywhere(ok()),
    "steps.*.notebook": pipelines(
        ok("a component that carries the notebook and runs it with nbclient (installs it)"),
        ok("run by nbclient in the worker (the notebook extra), shipped beside the DAG"),
        ok("run by nbclient in the flow run (the notebook extra), shipped beside the flow"),
    ),
    **_step_settings("steps.*"),
    "steps.*.inputs": everywhere(ok()),
    "steps.*.inputs.*.from": everywhere(ok()),
    "steps.*.inputs.*.value": everywhere(ok()),
    "steps.*.inputs.*.type": everywhere(ok("the input's declared type")),
    **_FAN_OUT,
    "steps.*.outputs": everywhere(ok()),
    "steps.*.after": everywhere(ok()),
    "steps.*.description": _DESCRIBED,
    "gates": pipelines(
        refuse("gates whose conditions cannot nest in KFP's condition blocks", kfp_gate_layout),
        ok(),
        ok(),
    ),
    "gates.*.dataset": everywhere(
        ok("a looped step's output: a per-item gate, judged in each iteration")
    ),
    "gates.*.checks": _CHECK_FIELD,
    **{
        f"gates.*.checks.*.{path}": _CHECK_FIELD
        for path in _each(
            "row_count row_count.min row_count.max columns null_fraction null_fraction.column "
            "null_fraction.max range range.column range.min range.max categories "
            "categories.column categories.allowed drift drift.column drift.reference "
            "drift.reference_uri drift.method drift.max drift.bins"
        )
    },
    **{  # a list of columns, or a pattern matched at run time, instead of `column`
        f"gates.*.checks.*.{kind}.{choice}": _CHECK_FIELD
        for kind in _COLUMN_CHECKS
        for choice in ("columns", "pattern")
    },
    "gates.*.require": _CHECK_FIELD,
    **{
        f"gates.*.require.*.{path}": _CHECK_FIELD
        for path in ("metric", "min", "max", "vs", "better", "tolerance")
    },
    "gates.*.first_run": _CHECK_FIELD,
    "gates.*.serve": _SERVING_FIELD,
    **{
        f"gates.*.serve.{path}": _SERVING_FIELD
        for path in _each(
            "model runtime command requirements requests requests.dataset requests.rows "
            "requests.drop requests.examples expect expect.type expect.shape ready_within "
            "max_p95_latency_ms max_memory"
        )
    },
    "gates.*.on_fail": everywhere(ok()),
    "gates.*.description": _DESCRIBED,
    "registry": everywhere(ok(), ok()),
    "registry.mlflow": everywhere(ok(), ok()),
    "registry.mlflow.registered_model": everywhere(ok(), ok("MODEL_NAME and labels")),
    "registry.mlflow.tracking_uri": everywhere(
        ok(), ok("MLFLOW_TRACKING_URI of the serving pods (KServe loads from storage)")
    ),
    "registry.model": everywhere(ok()),
    "registry.tags": everywhere(ok("tags of the new version")),
    "registry.promote": everywhere(ok(), ok()),
    "registry.promote.*.alias": everywhere(ok(), ok("the aliases the serving pods load")),
    "registry.external_aliases": everywhere(
        ok("the model gates compare with them (`vs:`); nothing here sets them")
    ),
    "registry.promote.*.after": everywhere(
        ok(), ok("the rule that waits for the rollout names the stable alias")
    ),
    "registry.reference": everywhere(
        ok("tag mlspec.reference of each promoted version: a monitor's drift compares with it")
    ),
    "schedule": pipelines(ok("a recurring run, by `mlspec deploy`"), ok(), ok()),
    "schedule.cron": pipelines(ok("a recurring run, by `mlspec deploy`"), ok(), ok()),
    "schedule.timezone": pipelines(
        warn("a zone other than UTC: KFP crons have no time zone", schedule_zone), ok(), ok()
    ),
    "schedule.paused": pipelines(ok("the recurring run disabled, by `mlspec deploy`"), ok(), ok()),
    # docs/continuous-training.md: the event each target listens to, shared by producers
    "triggers": pipelines(
        refuse(
            f"data, pipeline and monitor triggers: {_KFP_TRIGGERS}; manual: honoured",
            kfp_event_triggers,
        ),
        ok("assets (watcher DAGs, promotion outlets) the DAG is scheduled on, with the cron"),
        ok("deployment triggers on mlspec events, beside the schedule"),
    ),
    **{
        f"triggers.*.data{path}": pipelines(
            refuse(_KFP_TRIGGERS, kfp_event_triggers),
            ok(
                "a watcher DAG looks at the path every `every` and raises the asset file://PATH; "
                "the DAG is scheduled on it"
            ),
            ok(
                "a watcher deployment looks at the path every `every` and emits "
                "mlspec.data.arrived; a deployment trigger on it"
            ),
        )
        for path in ("", ".path", ".every")
    },
    **{
        f"triggers.*.pipeline{path}": pipelines(
            refuse(_KFP_TRIGGERS, kfp_event_triggers),
            ok(
                "scheduled on the asset mlspec://pipeline/NAME/promoted (/ALIAS with "
                "`promoted`), which NAME's promotion task raises"
            ),
            ok(
                "a deployment trigger on mlspec.pipeline.promoted of mlspec.pipeline.NAME "
                "(and mlspec.alias with `promoted`), which NAME's promotion emits"
            ),
        )
        for path in ("", ".name", ".promoted")
    },
    **{
        f"triggers.*.monitor{path}": pipelines(
            refuse(_KFP_TRIGGERS, kfp_event_triggers),
            ok("scheduled on the asset mlspec://monitor/NAME/breach, which NAME's alarm raises"),
            ok(
                "a deployment trigger on mlspec.monitor.breach of mlspec.monitor.NAME, which "
                "NAME's flow emits"
            ),
        )
        for path in ("", ".name")
    },
    "triggers.*.manual": pipelines(
        ok("no recurring run: `mlspec deploy` makes none and deletes the one it made"),
        ok("schedule=None"),
        ok("a deployment without schedule or trigger"),
    ),
    **{
        f"monitor{path}": _MONITOR_JOB
        for path in (
            "",
            *(
                f".{p}"
                for p in _each(
                    "model model.pipeline model.alias inputs inputs.path inputs.window checks "
                    "feedback feedback.path feedback.window feedback.prediction feedback.label "
                    "feedback.positive feedback.min_rows feedback.require "
                    "feedback.require.*.metric feedback.require.*.min feedback.require.*.max "
                    "on_breach on_breach.rollback"
                )
            ),
            *(
                f".checks.*.{p}"
                for p in _each(
                    "row_count row_count.min row_count.max columns null_fraction "
                    "null_fraction.column null_fraction.max range range.column range.min "
                    "range.max categories categories.column categories.allowed drift "
                    "drift.column drift.reference_uri drift.method drift.max drift.bins"
                )
            ),
            *(f".checks.*.{k}.{c}" for k in _COLUMN_CHECKS for c in ("columns", "pattern")),
        )
    },
    **{
        f"tests{path}": _NOT_COMPILED
        for path in (
            "",
            *(
                f".*.{p}"
                for p in _each(
                    "step inputs inputs.*.file inputs.*.value expect expect.*.columns "
                    "expect.*.rows expect.*.rows.min expect.*.rows.max expect.*.min expect.*.max "
                    "gates item description"
                )
            ),
        )
    },
    **_environment_rows(),
}

# --- rollout fields, per controller -----------------------------------------------------------

_KSERVE_STEPPING = refuse("KServe holds one canary percentage and has no metric gate")
_NO_GATE = refuse("KServe has no metric gate")
_UNEVALUATED = warn("plain Istio does not end the split or run analyses")
_STRATEGY = ok("the workload's rollout")
_ANALYSIS = {
    "kserve": refuse("KServe has no metric gate: a strategy naming an analysis"),
    "istio": warn(
        "bandit guardrails: honoured; shadow and A/B tests: not evaluated (MS302)",
    ),
}
_GUARDRAIL_UNUSED = warn(
    "bandit guardrails: not used (the bandit's interval and rollout.prometheus); shadow and A/B "
    "tests: not evaluated",
    guardrail_settings,
)
_NO_SMOKE = refuse(
    "nothing sends requests before the new version gets traffic: use a serving gate",
    smoke_unsupported,
)
_NO_LOAD = warn("nothing generates load (nothing analyses the new version either)", load_unused)
_FLAGGER_SMOKE = ok("a pre-rollout webhook: curl through flagger-loadtester (bash task)")
_FLAGGER_LOAD = ok("a rollout webhook: hey through flagger-loadtester")
_FLAGGER_UNUSED = warn("Flagger names its own Services and scales down itself", blue_green_extras)
_KSERVE_UNUSED = warn("KServe previews at a tag URL and scales down itself", blue_green_extras)

_ARGO_SMOKE = ok(
    "a Job metric POSTs each request (from a ConfigMap) to the canary Service before the first "
    "weight, or to the preview Service before promotion; any non-2xx aborts"
)
_ARGO_NO_LOAD = warn(
    "Argo Rollouts has no load generator: no load is generated (run one beside the rollout, "
    "or use flagger)"
)


ROLLOUT_TABLE: dict[str, dict[str, Entry]] = {
    "rollout": controllers(ok()),
    "rollout.controller": controllers(ok()),
    "rollout.service": controllers(ok()),
    "rollout.service.name": controllers(ok()),
    "rollout.service.namespace": controllers(ok()),
    "rollout.service.port": controllers(
        ok("container and Service port"), kserve=ok("the predictor's container port")
    ),
    "rollout.service.image": controllers(
        ok(), kserve=warn("KServe serves with the ServingRuntime of model_format")
    ),
    "rollout.service.model_format": controllers(
        warn("KServe's field: not used", model_format_unused),
        kserve=ok("the predictor's modelFormat"),
    ),
    "rollout.service.replicas": controllers(ok(), kserve=ok("minReplicas")),
    "rollout.service.resources": controllers(ok()),
    "rollout.service.resources.cpu": controllers(ok()),
    "rollout.service.resources.memory": controllers(ok()),
    "rollout.service.resources.gpu": controllers(ok()),
    "rollout.model_alias": controllers(ok("the model the serving pods load")),
    "rollout.prometheus": controllers(
        ok("the address of Prometheus analyses (and bandit rewards)"),
        kserve=warn("KServe runs no analysis", prometheus_unused),
    ),
    "rollout.strategy": controllers(ok()),
    "rollout.strategy.blue_green": controllers(_STRATEGY),
    "rollout.strategy.blue_green.preview_service": controllers(
        ok(), flagger=_FLAGGER_UNUSED, kserve=_KSERVE_UNUSED
    ),
    "rollout.strategy.blue_green.auto_promote": controllers(
        ok(),
        flagger=refuse("false: Flagger promotes by itself"),
        kserve=ok("false: a preview at the latest- tag URL"),
    ),
    "rollout.strategy.blue_green.auto_promote_after": controllers(
        ok(), flagger=ok("iterations"), kserve=refuse("KServe switches when ready")
    ),
    "rollout.strategy.blue_green.scale_down_delay": controllers(
        ok(), flagger=_FLAGGER_UNUSED, kserve=_KSERVE_UNUSED
    ),
    "rollout.strategy.blue_green.pre_promotion_analysis": controllers(ok(), kserve=_NO_GATE),
    "rollout.strategy.blue_green.post_promotion_analysis": controllers(
        ok(), flagger=refuse("Flagger analyses before promotion only"), kserve=_NO_GATE
    ),
    "rollout.strategy.canary": controllers(_STRATEGY, kserve=ok("canaryTrafficPercent")),
    "rollout.strategy.canary.steps": controllers(ok()),
    "rollout.strategy.canary.steps.*.weight": controllers(
        ok(),
        flagger=ok("stepWeights"),
        kserve=refuse("a second weight, or weight 100: KServe holds one percentage"),
    ),
    "rollout.strategy.canary.steps.*.pause": controllers(
        ok(),
        flagger=refuse("a manual pause, or pauses of different lengths: Flagger has one interval"),
        kserve=_KSERVE_STEPPING,
    ),
    "rollout.strategy.canary.steps.*.analysis": controllers(
        ok(),
        flagger=warn("checked every interval from the first weight on", flagger_analysis_steps),
        kserve=_KSERVE_STEPPING,
    ),
    "rollout.strategy.canary.analysis": controllers(ok(), kserve=_NO_GATE),
    "rollout.strategy.shadow": controllers(_STRATEGY, istio=ok("a mirroring VirtualService")),
    "rollout.strategy.shadow.percent": controllers(ok()),
    "rollout.strategy.shadow.duration": controllers(ok(), istio=_UNEVALUATED),
    "rollout.strategy.shadow.analysis": controllers(ok(), istio=_UNEVALUATED),
    "rollout.strategy.ab_test": controllers(
        _STRATEGY, flagger=refuse("by weight: Flagger matches requests only"), istio=ok()
    ),
    "rollout.strategy.ab_test.weight": controllers(
        ok(), flagger=refuse("Flagger matches requests only")
    ),
    **{
        f"rollout.strategy.ab_test.{path}": controllers(ok())
        for path in _each(
            "header header.name header.exact header.prefix header.regex cookie cookie.name "
            "cookie.value"
        )
    },
    "rollout.strategy.ab_test.duration": controllers(ok(), istio=_UNEVALUATED),
    "rollout.strategy.ab_test.analysis": controllers(ok(), istio=_UNEVALUATED),
    **{
        f"rollout.strategy.{kind}{path}": controllers(ok("by mlspec's bandit controller"))
        for kind in ("bandit", "contextual_bandit")
        for path in (
            "",
            *(
                f".{p}"
                for p in _each(
                    "arms arms.*.image arms.*.model_alias algorithm reward "
                    "reward.successes reward.trials interval exploration_floor max_step epsilon "
                    "guardrails no_data_pause stop stop.p_best stop.max_duration"
                )
            ),
        )
    },
    **{
        f"rollout.strategy.contextual_bandit.context{path}": controllers(
            ok("by mlspec's bandit controller")
        )
        for path in ("", ".header", ".segments")
    },
    "rollout.analysis": controllers(
        warn("a metric that nothing in the strategy names is not written", unused_analysis)
    ),
    "rollout.analysis.*.prometheus": controllers(ok(), **_ANALYSIS),
    "rollout.analysis.*.prometheus.query": controllers(ok(), **_ANALYSIS),
    "rollout.analysis.*.prometheus.address": controllers(
        ok(), kserve=_ANALYSIS["kserve"], istio=_GUARDRAIL_UNUSED
    ),
    "rollout.analysis.*.web": controllers(
        ok(),
        flagger=refuse("Flagger has no web provider"),
        kserve=_ANALYSIS["kserve"],
        istio=refuse("a bandit guardrail must be a Prometheus query"),
    ),
    "rollout.analysis.*.min": controllers(ok(), **_ANALYSIS),
    "rollout.analysis.*.max": controllers(ok(), **_ANALYSIS),
    "rollout.analysis.*.interval": controllers(
        ok(), kserve=_ANALYSIS["kserve"], istio=_GUARDRAIL_UNUSED
    ),
    "rollout.analysis.*.count": controllers(
        ok(),
        flagger=warn("outside blue_green: Flagger checks until the end", flagger_counts),
        kserve=_ANALYSIS["kserve"],
        istio=_GUARDRAIL_UNUSED,
    ),
    "rollout.analysis.*.failure_limit": controllers(
        ok(), flagger=ok("threshold"), kserve=_ANALYSIS["kserve"], istio=_GUARDRAIL_UNUSED
    ),
    "rollout.analysis.*.no_data": controllers(
        ok(
            "success and failure conditions false on an empty vector, NaN or null "
            "(inconclusive: the rollout pauses), or a true failureCondition (fail)"
        ),
        flagger=warn(
            "inconclusive: Flagger halts and counts a failed check (fail is what it does)",
            flagger_no_data,
        ),
        kserve=_ANALYSIS["kserve"],
        istio=warn(
            "bandit guardrails: fail is not a breach (the controller holds the arm and pauses "
            "after no_data_pause_intervals); shadow and A/B tests: not evaluated",
            guardrail_no_data,
        ),
    ),
    "rollout.analysis.*.dry_run": controllers(
        ok("the AnalysisTemplate's dryRun"),
        flagger=refuse("true: Flagger has no dry run, every metric gates the Canary"),
        kserve=_ANALYSIS["kserve"],
        istio=refuse(
            "true on a bandit guardrail: the controller acts on every breach; shadow and A/B "
            "tests: not evaluated",
            guardrail_dry_run,
        ),
    ),
    **{
        f"rollout.smoke{path}": controllers(
            _ARGO_SMOKE if not path else ok(),
            flagger=_FLAGGER_SMOKE,
            kserve=_NO_SMOKE,
            istio=_NO_SMOKE,
        )
        for path in ("", ".path", ".requests", ".timeout")
    },
    **{
        f"rollout.load{path}": controllers(
            _ARGO_NO_LOAD, flagger=_FLAGGER_LOAD, kserve=_NO_LOAD, istio=_NO_LOAD
        )
        for path in ("", ".rate", ".duration")
    },
}
ROLLOUT_TABLE["rollout.analysis.*.web.url"] = ROLLOUT_TABLE["rollout.analysis.*.web"]
ROLLOUT_TABLE["rollout.analysis.*.web.json_path"] = ROLLOUT_TABLE["rollout.analysis.*.web"]


def _strategies_they_cannot_run() -> None:
    """Every field of a strategy is refused, with it, by a controller that cannot run it."""
    for path, entries in ROLLOUT_TABLE.items():
        parts = path.split(".")
        if len(parts) < 3 or parts[1] != "strategy":
            continue
        kind = parts[2]
        for controller in CONTROLLERS:
            if not any(v.split("/")[0] == kind for v in SUPPORT[controller]):
                entries[controller] = refuse(f"{controller} cannot run {kind} (with the strategy)")


_strategies_they_cannot_run()

TABLE: dict[str, dict[str, Entry]] = {**PIPELINE_TABLE, **ROLLOUT_TABLE}


# --- the documentation ------------------------------------------------------------------------

_SHOWN = {"honoured": "yes", "warn": "warns (MS302)", "refuse": "refused (MS301)", "n/a": "n/a"}


def _cell(entry: Entry) -> str:
    text = _SHOWN[entry.status] + (f": {entry.note}" if entry.note else "")
    return text.replace("|", "\\|")


def _table(paths: list[str], heads: tuple[str, ...]) -> str:
    lines = [
        "| Field | " + " | ".join(f"`{h}`" for h in heads) + " |",
        "|---" * (len(heads) + 1) + "|",
    ]
    for path in paths:
        cells = " | ".join(_cell(TABLE[path][h]) for h in heads)
        lines.append(f"| `{path}` | {cells} |")
    return "\n".join(lines) + "\n"


def markdown() -> str:
    """docs/targets/support.md: generated from `TABLE` (a test keeps the file equal)."""
    pipeline = [p for p in TABLE if not p.startswith("rollout")]
    rollout = [p for p in TABLE if p.startswith("rollout")]
    return (
        "# What each target does with each field\n\n"
        "<!-- Generated from src/mlspec/backends/support.py by "
        "`python -m mlspec.backends.support`; edit the table there. -->\n\n"
        "Every field of the spec, per target: **yes** (the output follows it), **warns "
        "(MS302)** (in the cases named, the target does something else and `compile` says "
        "so), **refused (MS301)** (in the cases named, the target cannot express it and "
        "`compile` fails), or **n/a** (the target writes nothing the field is about). `mlspec "
        "validate --target T` reports the same warnings and refusals without compiling. `*` "
        "stands for a name or a list position.\n\n"
        "## Pipeline targets\n\n"
        "`rollout` is `--target rollout`, which writes the serving manifests alone; the "
        "fields it uses appear in the manifests of every target.\n\n"
        + _table(pipeline, PIPELINE_COLUMNS)
        + "\n## Rollout manifests, per controller\n\n"
        "Every target writes them (under `rollout/` beside a pipeline, or alone with `--target "
        "rollout`). A refusal blocks `--target rollout`; beside a pipeline it is a warning, and "
        "the pipeline is written without `rollout/`. How each controller maps the strategies: "
        "[rollout.md](rollout.md).\n\n" + _table(rollout, CONTROLLERS)
    )


if __name__ == "__main__":  # python -m mlspec.backends.support > docs/targets/support.md
    print(markdown(), end="")
