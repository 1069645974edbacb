"""The checks that report, from the support table (support.py), a field a target cannot honour.

Each finder takes the pipeline and the column (a target, or a rollout controller) and yields the
uses it cannot honour: where, the message and the hint. support.problems turns them into
diagnostics: MS302 for an entry that warns, MS301 for one that refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlspec.compiler import ir
from mlspec.diagnostics import Span

WORKERS = {"airflow": "Airflow workers", "prefect": "flow run"}

# One use of a field that the target cannot honour: where, the message and the hint.
Use = tuple[Span, str, str]
Finder = Callable[[ir.Pipeline, str], Iterator[Use]]


def _listing(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c', with the verb that follows: is or are."""
    text = items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
    return f"{text} {'is' if len(items) == 1 else 'are'}"


# --- finders: pipeline targets ----------------------------------------------------------------


def python_step_settings(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    worker = WORKERS[target]
    for step in pipeline.steps:
        if step.kind == "container":
            continue
        what = [name for name, value in _settings(step) if value]
        if what:
            yield (
                step.span,
                f"{target} runs {step.kind.capitalize()} step {step.name!r} in its {worker}: its "
                f"{_listing(what)} not applied",
                f"the environment of the {worker} must provide the packages; a container step "
                "gets its own image and resources",
            )
    monitor = pipeline.monitor
    what = [name for name, value in _settings(monitor.job) if value] if monitor else []
    if monitor is not None and what:  # its one task is a Python task, like a Python step
        yield (
            monitor.job.span or monitor.span,
            f"{target} runs the monitor's task in its {worker}: the defaults' "
            f"{_listing(what)} not applied",
            f"the environment of the {worker} must provide mlflow and pyarrow (for Parquet logs)",
        )


def _settings(task: ir.Step | ir.JobSettings) -> list[tuple[str, object]]:
    res = task.resources
    return [
        ("image", task.image),
        ("packages", task.packages),
        ("resources", res.cpu or res.memory),
    ]


def python_step_placement(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    worker = WORKERS[target]
    for step in pipeline.steps:
        place = step.placement
        what = [
            name
            for name, value in (
                ("accelerator", place.accelerator_count),
                ("node_selector", place.node_selector),
                ("tolerations", place.tolerations),
            )
            if value
        ]
        if step.kind == "python" and what:
            yield (
                place.span or step.span,
                f"{target} runs Python step {step.name!r} in its {worker}: its "
                f"{_listing(what)} not applied",
                f"make it a container step (its pod is placed), or run the {worker} on such nodes",
            )


def python_step_secrets(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    worker = WORKERS[target]
    for step in pipeline.steps:
        if step.kind == "container":
            continue
        for env in step.env:
            if env.secret is not None:
                yield (
                    env.span,
                    f"{target} runs {step.kind.capitalize()} step {step.name!r} inside its "
                    f"{worker}, which cannot read the Kubernetes secret {env.secret.name!r} for "
                    f"env {env.name!r}",
                    "make it a container step (its pod gets the secret), or provide "
                    f"the variable in the environment of the {worker}",
                )


def artifact_root_uri(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    root, span = pipeline.artifact_root, pipeline.artifact_root_span
    if root is not None and "://" in root and span is not None:
        worker = WORKERS[target]
        yield (
            span,
            f"{target} tasks read and write artifacts as files, and {root!r} is not a "
            "filesystem path",
            f"set MLSPEC_ARTIFACT_ROOT in the environment of the {worker} to a folder that "
            "every task sees (and MLSPEC_ARTIFACT_CLAIM to the volume claim that step pods "
            "mount)",
        )


def caching_without_cache(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    for step in pipeline.steps:
        if step.caching:
            yield (
                step.span,
                f"{target} has no task caching: step {step.name!r} (caching: true) runs again "
                "in every run",
                "remove caching here, or compile for kubeflow or prefect, which reuse the "
                "result of an earlier run with the same inputs",
            )


def env_params(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    for step in pipeline.steps:
        for env in step.env:
            if env.param is not None:
                yield (
                    env.span,
                    f"{target} cannot set env {env.name!r} of step {step.name!r} from the "
                    f"run-time parameter {env.param!r}",
                    "KFP sets environment values at compile time; pass the parameter to the "
                    "step as an input instead",
                )


def prefect_placeholders(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    for param in pipeline.params:
        texts = param.default if isinstance(param.default, tuple) else (param.default,)
        if any(isinstance(text, str) and "{{" in text for text in texts):  # a list's elements
            yield (
                param.span,
                f"the default of parameter {param.name!r} contains '{{{{', which Prefect would "
                "replace as a placeholder when deploying prefect.yaml",
                "Prefect has no escape for '{{' in prefect.yaml: change the default",
            )


def kfp_gate_layout(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    from mlspec.backends.kubeflow.layout import layout  # only the kubeflow target plans tasks

    for plan, why in layout(pipeline).problems:
        yield (
            plan.span,
            why,
            "let the steps under one gate also wait for the other (`after: [GATE]` on a step), "
            "so that one order of the gates covers every input",
        )


def kfp_collected_artifacts(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    """Readers of a loop's collected artifacts inside a dsl.If or ParallelFor the loop is not
    in: kfp's compiler cannot build them (kubeflow/layout.py)."""
    from mlspec.backends.kubeflow.layout import layout  # only the kubeflow target plans tasks

    for plan, why in layout(pipeline).collected:
        yield (
            plan.span,
            why,
            "let it wait for no gate that the loop does not wait for (read the gated value in "
            "a step after it), or compile for airflow or prefect",
        )


UTC = ("UTC", "Etc/UTC")


def schedule_zone(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    schedule = pipeline.schedule
    if schedule is not None and schedule.timezone not in UTC:
        yield (
            schedule.span,
            f"Kubeflow Pipelines has no time zone per recurring run: cron {schedule.cron!r} "
            f"fires in the scheduled-workflow controller's zone, not in {schedule.timezone}",
            f"set the controller's CRON_SCHEDULE_TIMEZONE to {schedule.timezone}, or write the "
            "cron in UTC",
        )


def kfp_event_triggers(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    """Data-arrival, pipeline and monitor triggers: KFP starts runs on a recurring schedule
    only."""
    for trigger in pipeline.triggers:
        if trigger.kind == "data":
            what = f"when files arrive at {trigger.path}"
            outside = (
                "have the job that writes the data run `mlspec deploy --target kubeflow --run`"
            )
        elif trigger.kind == "pipeline":
            promoted = f"to {trigger.alias}" if trigger.alias else "a model"
            what = f"when pipeline {trigger.pipeline!r} promotes {promoted}"
            outside = (
                f"have the CI of {trigger.pipeline!r} run `mlspec deploy --target kubeflow "
                "--run` after its promotion"
            )
        elif trigger.kind == "monitor":
            what = f"when monitor {trigger.monitor!r} raises its alarm"
            outside = (
                f"have what watches the recurring runs of {trigger.monitor!r} (their task "
                "`monitor` outputs `breached`) run `mlspec deploy --target kubeflow --run` "
                "when it is true"
            )
        else:
            continue
        yield (
            trigger.span,
            f"Kubeflow Pipelines cannot start a run {what}: it has recurring runs only",
            f"retrain on a `schedule:`, or start runs from outside: {outside}, or let an Argo "
            "Events sensor on the cluster submit the run; airflow and prefect have this trigger",
        )


_TASK_RUNS = {"kubeflow": "Kubeflow Pipelines keeps", "prefect": "Prefect keeps"}


def task_descriptions(pipeline: ir.Pipeline, target: str) -> Iterator[Use]:
    described = [("step", n.name, n.description, n.span) for n in pipeline.steps]
    described += [("gate", n.name, n.description, n.span) for n in pipeline.gates]
    for kind, name, description, span in described:
        if description:
            yield (
                span,
                f"{_TASK_RUNS[target]} no description per task: the description of {kind} "
                f"{name!r} is not shown",
                "keep it for readers of the spec; airflow shows it as the task's doc_md",
            )


# --- finders: rollout controllers -------------------------------------------------------------


def unused_analysis(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None:
        return
    named = set(_named_analysis(rollout.strategy))
    for metric in rollout.analysis:
        if metric.name not in named:
            yield (
                metric.span,
                f"analysis {metric.name!r} is named by nothing in the strategy, so it is not "
                "written",
                "name it in the strategy, or remove it",
            )


def _named_analysis(strategy: ir.Strategy) -> Iterator[str]:
    for field_name in ("analysis", "pre_promotion_analysis", "post_promotion_analysis"):
        yield from getattr(strategy, field_name, ())
    yield from getattr(strategy, "guardrails", ())
    for step in getattr(strategy, "steps", ()):
        yield from step.analysis


def model_format_unused(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is not None and rollout.service.model_format is not None:
        yield (
            rollout.service.span,
            f"{controller} serves service.image; service.model_format is KServe's and is not used",
            "remove model_format",
        )


def prometheus_unused(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is not None and rollout.prometheus is not None:
        yield (
            rollout.span,
            "KServe runs no analysis, so rollout.prometheus is not used",
            "remove it, or use argo-rollouts or flagger to measure the new version",
        )


_CONTROLLER_NAMES = {"flagger": "Flagger", "kserve": "KServe", "istio": "plain Istio"}


def blue_green_extras(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.BlueGreen):
        return
    bg = rollout.strategy
    unused = []
    if bg.preview_service != f"{rollout.service.name}-preview":
        unused.append("preview_service")
    if bg.scale_down_delay_seconds != ir.SCALE_DOWN_DELAY_SECONDS:
        unused.append("scale_down_delay")
    if unused:
        name = _CONTROLLER_NAMES[controller]
        yield (
            bg.span,
            f"{name} names its own preview and scales the old version down by itself: "
            f"{_listing(unused)} not used",
            "remove them, or use argo-rollouts, which has both",
        )


def flagger_counts(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or isinstance(rollout.strategy, ir.BlueGreen):
        return
    named = set(_named_analysis(rollout.strategy))
    for metric in rollout.analysis:
        if metric.name in named and metric.count != ir.ANALYSIS_COUNT:
            yield (
                metric.span,
                f"Flagger checks analysis {metric.name!r} every interval until the rollout "
                "ends: its count is not used outside blue_green",
                "remove count, or use argo-rollouts, which takes that many measurements",
            )


def flagger_analysis_steps(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.Canary):
        return
    for step in rollout.strategy.steps:
        if step.action == "analysis":
            yield (
                step.span,
                f"Flagger checks {', '.join(step.analysis)} every interval from the first "
                "weight on, not once at this step",
                "use argo-rollouts to run an analysis as a step",
            )


def guardrail_settings(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.Bandit):
        return
    guardrails = set(rollout.strategy.guardrails)
    for metric in rollout.analysis:
        if metric.name not in guardrails:
            continue
        unused = [
            name
            for name, used in (
                ("address", metric.address not in (None, rollout.prometheus)),
                ("interval", metric.interval_seconds != ir.ANALYSIS_INTERVAL_SECONDS),
                ("count", metric.count != ir.ANALYSIS_COUNT),
                ("failure_limit", metric.failure_limit != ir.ANALYSIS_FAILURE_LIMIT),
            )
            if used
        ]
        if unused:
            yield (
                metric.span,
                f"the bandit controller checks guardrail {metric.name!r} at every bandit "
                f"interval against rollout.prometheus: its {_listing(unused)} not used",
                "remove them; the bandit's interval sets how often guardrails are checked",
            )


def _used_metrics(rollout: ir.Rollout) -> Iterator[ir.AnalysisMetric]:
    named = set(_named_analysis(rollout.strategy))
    return (m for m in rollout.analysis if m.name in named)


def flagger_no_data(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    """Flagger counts a query without data as a failed check (fluxcd/flagger#1098: "Halt
    advancement no values found"): `fail` exactly; it cannot pause for a person."""
    rollout = pipeline.rollout
    if rollout is None:
        return
    for metric in _used_metrics(rollout):
        if metric.provider == "prometheus" and metric.no_data == "inconclusive":
            yield (
                metric.span,
                f"Flagger cannot pause for a person when analysis {metric.name!r} has no data "
                "(no_data: inconclusive, the default): it halts advancement and counts a "
                "failed check, and rolls back when the failed checks reach the threshold",
                "set no_data: fail to say so, or use argo-rollouts, whose inconclusive "
                "measurements pause the rollout",
            )


def smoke_unsupported(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or rollout.smoke is None:
        return
    what = {
        "kserve": "KServe sends traffic to a new revision as soon as it is ready",
        "istio": "on Istio the new version gets its share of traffic as soon as it is up",
    }[controller]
    yield (
        rollout.smoke.span,
        f"{what}: nothing can send the smoke requests before the new version gets traffic",
        "check the model before the rollout with a serving gate (gates.NAME.serve), which "
        "serves it with the real runtime and canned requests; or use flagger or "
        "argo-rollouts, which run the smoke test",
    )


def load_unused(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or rollout.load is None:
        return
    yield (
        rollout.load.span,
        f"{_CONTROLLER_NAMES[controller]} generates no load: rollout.load is not used",
        "remove it, or use flagger or argo-rollouts, which send it during the analysis",
    )


def guardrail_no_data(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    """The bandit controller reads no data its own way (bandit/controller.py): never a breach."""
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.Bandit):
        return
    for metric in rollout.analysis:
        if metric.name in rollout.strategy.guardrails and metric.no_data == "fail":
            yield (
                metric.span,
                f"the bandit controller does not count guardrail {metric.name!r} without data "
                "as a breach: it holds the arm, and pauses the experiment after "
                "no_data_pause_intervals intervals without data",
                "remove no_data: fail; set the bandit's no_data_pause_intervals instead",
            )


def guardrail_dry_run(pipeline: ir.Pipeline, controller: str) -> Iterator[Use]:
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.Bandit):
        return
    for metric in rollout.analysis:
        if metric.name in rollout.strategy.guardrails and metric.dry_run:
            yield (
                metric.span,
                f"guardrail {metric.name!r} has dry_run: true, but the bandit controller acts "
                "on every guardrail: a breach takes the arm out for good",
                "leave it out of guardrails and watch its query until you trust it",
            )
