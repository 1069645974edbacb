"""The support table (backends/support.py): complete, true, and the documentation's source.

- Every field of the spec models has an entry for every column, and nothing else has one.
- Every warn and refuse entry produces its diagnostic on its target (or controller) for a spec
  that uses the field as the note says, and not without that use.
- Every honoured field changes the output of its target when it changes: the smallest spec of
  the corpus that sets it is compiled with the field removed or changed, and compared.
- docs/targets/support.md is what `support.markdown()` writes.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from mlspec.backends import support
from mlspec.backends.registry import find
from mlspec.backends.rollout.backend import RolloutBackend
from mlspec.backends.rollout.base import CONTROLLERS, SUPPORT
from mlspec.compiler import analyze_text
from mlspec.compiler import spec as s
from mlspec.compiler.passes import pin_model
from mlspec.compiler.source import load_text
from mlspec.diagnostics import Diagnostic, SpecError

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "targets" / "support.md"
CORPUS = sorted(
    [
        *(ROOT / "examples").glob("*/pipeline.yaml"),
        *(ROOT / "specs" / "valid").glob("*.yaml"),
        *(ROOT / "tests" / "rollout" / "matrix").glob("*.yaml"),
        *(ROOT / "tests" / "support" / "specs").glob("*.yaml"),
    ],
    key=lambda p: (len(p.read_bytes()), p.name),  # smallest first: the quickest to compile
)
DELETE = object()


# -- the fields of the spec models ------------------------------------------------------------


def _models(annotation: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """The models inside an annotation, with the path between: '' or '.*' per map or list."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _models(args[0])
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation
    elif origin in (dict, list):
        for suffix, model in _models(args[-1]):
            yield ".*" + suffix, model
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _models(arg)


def field_paths(model: type[BaseModel] = s.Spec, prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        paths.append(path)
        for suffix, inner in _models(field.annotation):
            paths += field_paths(inner, f"{path}{suffix}.")
    return paths


def test_every_field_has_an_entry_for_every_column() -> None:
    paths = field_paths()
    assert len(paths) == len(set(paths))
    assert set(support.TABLE) == set(paths), "add the new field to backends/support.py"
    for path, entries in support.TABLE.items():
        assert tuple(entries) == support.columns(path), path
        for column, entry in entries.items():
            not_compiled = path.split(".")[0] in support.NOT_COMPILED
            assert entry.status != "n/a" or column == "rollout" or not_compiled, (path, column)
            assert entry.status in ("honoured", "n/a") or entry.note, (path, column)
            if entry.find is not None:
                assert entry.status in ("warn", "refuse"), (path, column)


def test_the_documentation_is_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == support.markdown(), (
        "regenerate it: uv run python -m mlspec.backends.support > docs/targets/support.md"
    )


# -- compiling a spec for one column ------------------------------------------------------------


def _compile(
    text: str, column: str, file: str = "spec.yaml", environments: bool = False
) -> tuple[list[Diagnostic], dict[str, str] | None]:
    """(diagnostics, output files, or None when an error stops the target); `file` is where
    the spec's step packages are looked for (beside it). With `environments`, also the spec
    bound to each of its environments (`compile --env all`), its files under NAME/."""
    try:
        analysis = analyze_text(text, file)
        bound = [("", analysis.pipeline)]
        if environments:
            bound += [
                (f"{n}/", analysis.for_environment(n).pipeline) for n in analysis.spec.environments
            ]
    except SpecError as exc:
        return exc.diagnostics, None
    found: list[Diagnostic] = []
    files: dict[str, str] = {}
    for folder, pipeline in bound:
        diagnostics, out = _compile_pipeline(pipeline, column)
        found += [d for d in diagnostics if d not in found]
        if out is None:
            return found, None
        files |= {folder + path: text for path, text in out.items()}
    return found, files


def _compile_pipeline(pipeline: Any, column: str) -> tuple[list[Diagnostic], dict[str, str] | None]:
    if column in CONTROLLERS or column == "rollout":
        if pipeline.rollout is not None:
            pipeline = pin_model(pipeline, "7", "s3://models/fraud/7")
        backend: Any = RolloutBackend()
    else:
        backend = find(column).load()  # type: ignore[union-attr]
    found = backend.check(pipeline)
    if any(d.severity == "error" for d in found):
        return found, None
    return found, {a.path: a.text for a in backend.emit(pipeline)}


@cache
def _compiled(
    text: str, column: str, file: str, environments: bool = False
) -> tuple[list[Diagnostic], dict[str, str] | None]:
    return _compile(text, column, file, environments)


def _data(path: Path) -> dict:
    """A spec's data with the shorthands written out (`train.model` as {from: train.model}, an
    env string as {value: ...}), so that every field has its own key."""
    data = load_text(path.read_text(encoding="utf-8"), path.name).data
    for owner in [data.get("defaults") or {}, *(data.get("steps") or {}).values()]:
        for name, value in (owner.get("env") or {}).items():
            if isinstance(value, str):
                owner["env"][name] = {"value": value}
        for name, value in (owner.get("inputs") or {}).items():
            if value == "item":  # a fanned step's element
                owner["inputs"][name] = {"item": True}
            elif not isinstance(value, dict):
                owner["inputs"][name] = {"from" if isinstance(value, str) else "value": value}
    return data


def _text(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=4096)


def _edited(data: dict, edits: dict[str, Any]) -> dict:
    out = copy.deepcopy(data)
    for dotted, value in edits.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        node = out
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value
    return out


# -- warn and refuse entries: each produces its diagnostic ---------------------------------------

BASE = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: demo, version: 1.0.0}
params:
  rows: {type: int, default: 3}
steps:
  make:
    python: demo.steps:make
    inputs: {rows: params.rows}
    outputs: {table: dataset, auc: float}
  use:
    python: demo.steps:use
    inputs: {table: make.table}
gates:
  quality:
    require: [{metric: make.auc, min: 0.5}]
"""
SECRET = {"TOKEN": {"secret": {"name": "api", "key": "token"}}}
# What a pipeline field is set to, to be used as the entry's note says (under defaults or a step).
STEP_VALUES: dict[str, Any] = {
    "image": "python:3.11-slim",
    "packages": ["pandas"],
    "resources": {"cpu": "1"},
    "resources.cpu": "1",
    "resources.memory": "1Gi",
    "accelerator": {"count": 1},
    "accelerator.type": {"type": "amd.com/gpu", "count": 1},
    "accelerator.count": {"count": 2},
    "node_selector": {"cloud.google.com/gke-nodepool": "gpu-pool"},
    "tolerations": [{"key": "gpu", "operator": "Exists"}],
    **{
        f"tolerations.*.{key}": [
            {"key": "gpu", "value": "a", "effect": "NoExecute", "toleration_seconds": 5}
        ]
        for key in ("key", "operator", "value", "effect", "toleration_seconds")
    },
    "caching": True,
    "env.*.secret": SECRET,
    "env.*.secret.name": SECRET,
    "env.*.secret.key": SECRET,
    "env.*.param": {"ROWS": {"param": "rows"}},
    "description": "Makes the table.",
    # `code:` is set as a whole, with the field the entry is about
    "code.wheels": {"wheels": "https://wheels.example/acme"},
    "code.image": {"image": "ghcr.io/acme/steps:1.0"},
    **{
        f"code.{field}": {"git": {"url": "https://git.example/acme/p.git", "commit": "a" * 40}}
        for field in ("git", "git.url", "git.commit", "git.path")
    },
}
NESTING = {  # a second data gate whose block cannot nest with the first in KFP
    "steps.make.outputs": {"left": "dataset", "right": "dataset", "auc": "float"},
    "steps.left": {
        "python": "demo.steps:use",
        "inputs": {"t": "make.left"},
        "outputs": {"r": "dataset"},
    },
    "steps.right": {
        "python": "demo.steps:use",
        "inputs": {"t": "make.right"},
        "outputs": {"r": "dataset"},
    },
    "steps.use.inputs": {"a": "left.r", "b": "right.r"},
    "gates.left_ok": {"dataset": "make.left", "checks": [{"row_count": {"min": 1}}]},
    "gates.right_ok": {"dataset": "make.right", "checks": [{"row_count": {"min": 1}}]},
}
PIPELINE_TRIGGERS: dict[str, dict[str, Any]] = {
    "params.*.default": {"params.label": {"type": "str", "default": "{{ $HOME }}"}},
    "artifact_root": {"artifact_root": "s3://bucket/demo"},
    "environments.*.artifact_root": {"environments.dev.artifact_root": "s3://bucket/dev"},
    **{  # the environment's secret for a variable that reads one in the spec
        f"environments.*.secrets{path}": {
            "steps.make.env": SECRET,
            "environments.dev.secrets": {"TOKEN": {"name": "api-dev", "key": "token"}},
        }
        for path in ("", ".*.name", ".*.key")
    },
    "gates.*.description": {"gates.quality.description": "Checks the model."},
    "schedule.timezone": {"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}},
    **{
        f"triggers{path}": {"triggers": [{"data": {"path": "/data/in", "every": "5m"}}]}
        for path in ("", ".*.data", ".*.data.path", ".*.data.every")
    },
    **{  # `extras` promotes to challenger: tests/support/specs/pipeline-extras.yaml, beside SPECS
        f"triggers.*.pipeline{path}": {
            "triggers": [{"pipeline": {"name": "extras", "promoted": "challenger"}}]
        }
        for path in ("", ".name", ".promoted")
    },
    "steps.*.for_each": {  # a loop's collected tables, read in a gate's dsl.If it is not in
        "steps.make.for_each": ["eu", "us"],
        "steps.base": {"python": "demo.steps:base", "outputs": {"table": "dataset"}},
        "gates.base_ok": {"dataset": "base.table", "checks": [{"row_count": {"min": 1}}]},
        "steps.use.after": ["base_ok"],
    },
    **{  # tests/support/specs/monitor-extras.yaml, beside SPECS
        f"triggers.*.monitor{path}": {"triggers": [{"monitor": {"name": "extras-monitor"}}]}
        for path in ("", ".name")
    },
}
SPECS = ROOT / "tests" / "support" / "specs"

MATRIX = ROOT / "tests" / "rollout" / "matrix"
UNSUPPORTED = ROOT / "specs" / "unsupported"
METRIC = {"prometheus": {"query": "up", "address": "http://prometheus:9090"}, "max": 0.01}
WEB = {"web": {"url": "http://checks/error", "json_path": "{$.rate}"}, "max": 0.01}
SMOKE = {"path": "/v2/models/m/infer", "requests": ['{"inputs": []}'], "timeout": "5s"}
CANARY = "rollout.strategy.canary"
BLUE_GREEN = "rollout.strategy.blue_green"
# (spec, edits, and for a diagnostic the spec has even without edits: a phrase of its message)
Trigger = tuple[str, dict[str, Any], str | None]
_KSERVE_ANALYSIS: Trigger = (
    "kserve--canary",
    {"rollout.analysis": {"err": METRIC}, f"{CANARY}.analysis": ["err"]},
    None,
)
_KSERVE_WEB: Trigger = (
    "kserve--canary",
    {"rollout.analysis": {"err": WEB}, f"{CANARY}.analysis": ["err"]},
    None,
)
_ISTIO_UNEVALUATED: Trigger = ("istio--shadow", {}, "or run the analysis (shadow_errors)")
_GUARDRAIL = "rollout.analysis.error_rate"
_GUARDRAIL_WEB: Trigger = ("istio--bandit", {"rollout.analysis.error_rate": WEB}, None)
ROLLOUT_TRIGGERS: dict[tuple[str, str], Trigger] = {
    ("rollout.service.image", "kserve"): (
        "kserve--canary",
        {"rollout.service.image": "ghcr.io/acme/x:1.0"},
        None,
    ),
    **{
        ("rollout.service.model_format", c): (
            spec,
            {"rollout.service.model_format": "sklearn"},
            None,
        )
        for c, spec in (
            ("argo-rollouts", "argo-rollouts--canary"),
            ("flagger", "flagger--canary"),
            ("istio", "istio--shadow"),
        )
    },
    ("rollout.prometheus", "kserve"): (
        "kserve--canary",
        {"rollout.prometheus": "http://prometheus:9090"},
        None,
    ),
    **{
        (f"{BLUE_GREEN}.{field}", c): (f"{c}--blue_green", {f"{BLUE_GREEN}.{field}": value}, None)
        for field, value in (("preview_service", "fraud-preview"), ("scale_down_delay", "5m"))
        for c in ("flagger", "kserve")
    },
    (f"{BLUE_GREEN}.auto_promote", "flagger"): (
        "flagger--blue_green",
        {f"{BLUE_GREEN}.auto_promote": False, f"{BLUE_GREEN}.auto_promote_after": DELETE},
        None,
    ),
    (f"{BLUE_GREEN}.auto_promote_after", "kserve"): (
        "kserve--blue_green",
        {f"{BLUE_GREEN}.auto_promote": True, f"{BLUE_GREEN}.auto_promote_after": "10m"},
        None,
    ),
    (f"{BLUE_GREEN}.pre_promotion_analysis", "kserve"): (
        "kserve--blue_green",
        {"rollout.analysis": {"err": METRIC}, f"{BLUE_GREEN}.pre_promotion_analysis": ["err"]},
        None,
    ),
    **{
        (f"{BLUE_GREEN}.post_promotion_analysis", c): (
            f"{c}--blue_green",
            {"rollout.analysis.err": METRIC, f"{BLUE_GREEN}.post_promotion_analysis": ["err"]},
            None,
        )
        for c in ("flagger", "kserve")
    },
    (f"{CANARY}.steps.*.weight", "kserve"): (
        "kserve--canary",
        {f"{CANARY}.steps.1": {"weight": 20}},
        None,
    ),
    (f"{CANARY}.steps.*.pause", "flagger"): (
        "flagger--canary",
        {f"{CANARY}.steps.1": {"pause": "manual"}},
        None,
    ),
    (f"{CANARY}.steps.*.pause", "kserve"): (
        "kserve--canary",
        {f"{CANARY}.steps.1": {"pause": "10m"}},
        None,
    ),
    (f"{CANARY}.steps.*.analysis", "flagger"): ("flagger--canary", {}, "not once at this step"),
    (f"{CANARY}.steps.*.analysis", "kserve"): (
        "kserve--canary",
        {"rollout.analysis": {"err": METRIC}, f"{CANARY}.steps.1": {"analysis": ["err"]}},
        None,
    ),
    (f"{CANARY}.analysis", "kserve"): _KSERVE_ANALYSIS,
    ("rollout.strategy.shadow.duration", "istio"): ("istio--shadow", {}, "end the split after 2d"),
    ("rollout.strategy.shadow.analysis", "istio"): _ISTIO_UNEVALUATED,
    ("rollout.strategy.ab_test.duration", "istio"): ("istio--ab_test-header", {}, "end the split"),
    ("rollout.strategy.ab_test.analysis", "istio"): (
        "istio--ab_test-header",
        {},
        "or run the analysis",
    ),
    ("rollout.strategy.ab_test", "flagger"): (
        "flagger--ab_test-header",
        {"rollout.strategy.ab_test.header": DELETE, "rollout.strategy.ab_test.weight": 10},
        None,
    ),
    ("rollout.strategy.ab_test.weight", "flagger"): (
        "flagger--ab_test-header",
        {"rollout.strategy.ab_test.header": DELETE, "rollout.strategy.ab_test.weight": 10},
        None,
    ),
    **{
        ("rollout.analysis", c): (spec, {"rollout.analysis.unused": METRIC}, None)
        for c, spec in (
            ("argo-rollouts", "argo-rollouts--canary"),
            ("flagger", "flagger--canary"),
            ("kserve", "kserve--canary"),
            ("istio", "istio--bandit"),
        )
    },
    **{
        (f"rollout.analysis.*.{field}", "kserve"): _KSERVE_ANALYSIS
        for field in (
            "prometheus",
            "prometheus.query",
            "prometheus.address",
            "min",
            "max",
            "interval",
            "count",
            "failure_limit",
        )
    },
    **{
        (f"rollout.analysis.*.{field}", "kserve"): _KSERVE_WEB
        for field in ("web", "web.url", "web.json_path")
    },
    **{
        (f"rollout.analysis.*.{field}", "istio"): _ISTIO_UNEVALUATED
        for field in ("prometheus", "prometheus.query", "min", "max")
    },
    **{
        (f"rollout.analysis.*.{field}", "istio"): (
            "istio--bandit",
            {f"{_GUARDRAIL}.{field}": value},
            None,
        )
        for field, value in (
            ("prometheus.address", "http://other:9090"),
            ("interval", "10m"),
            ("count", 3),
            ("failure_limit", 2),
        )
    },
    **{
        (f"rollout.analysis.*.{field}", "istio"): _GUARDRAIL_WEB
        for field in ("web", "web.url", "web.json_path")
    },
    **{
        (f"rollout.analysis.*.{field}", "flagger"): (
            "flagger--canary",
            {"rollout.analysis.error_rate": WEB},
            None,
        )
        for field in ("web", "web.url", "web.json_path")
    },
    ("rollout.analysis.*.count", "flagger"): (
        "flagger--canary",
        {"rollout.analysis.p95_latency.count": 3},
        None,
    ),
    **{
        (f"rollout.load{field}", "argo-rollouts"): (
            "argo-rollouts--canary",
            {"rollout.load": {"rate": 5, "duration": "2m"}},
            "no load generator",
        )
        for field in ("", ".rate", ".duration")
    },
    ("rollout.analysis.*.no_data", "flagger"): (
        "flagger--canary",
        {"rollout.analysis.error_rate.no_data": "inconclusive"},
        None,
    ),
    ("rollout.analysis.*.dry_run", "flagger"): (
        "flagger--canary",
        {"rollout.analysis.error_rate.dry_run": True},
        None,
    ),
    **{
        (f"rollout.analysis.*.{field}", "kserve"): _KSERVE_ANALYSIS
        for field in ("no_data", "dry_run")
    },
    **{
        (f"rollout.analysis.*.{field}", "istio"): (
            "istio--bandit",
            {f"{_GUARDRAIL}.{field}": value},
            None,
        )
        for field, value in (("no_data", "fail"), ("dry_run", True))
    },
    **{
        (f"rollout.{section}{path}", c): (spec, {f"rollout.{section}": value}, None)
        for section, value, paths in (
            ("smoke", SMOKE, ("", ".path", ".requests", ".timeout")),
            ("load", {"rate": 5, "duration": "2m"}, ("", ".rate", ".duration")),
        )
        for path in paths
        for c, spec in (("kserve", "kserve--canary"), ("istio", "istio--shadow"))
    },
}


def _unsupported_strategy(path: str, column: str) -> str | None:
    """The strategy kind if `column` is a controller that cannot run the strategy at all."""
    parts = path.split(".")
    if column not in CONTROLLERS or len(parts) < 3 or parts[1] != "strategy":
        return None
    kind = parts[2]
    return None if any(v.split("/")[0] == kind for v in SUPPORT[column]) else kind


def _trigger(path: str, column: str) -> tuple[str, dict[str, Any], str | None]:
    """(base spec text, edits, phrase): how a spec uses the field as the entry says."""
    if column in CONTROLLERS:
        name, edits, phrase = ROLLOUT_TRIGGERS[(path, column)]
        return (MATRIX / f"{name}.yaml").read_text(encoding="utf-8"), edits, phrase
    if path == "gates":
        return BASE, NESTING, None
    if path in PIPELINE_TRIGGERS:
        return BASE, PIPELINE_TRIGGERS[path], None
    section, _, field = path.partition(".")
    where = "defaults" if section == "defaults" else "steps.make"
    field = field.removeprefix("*.")
    value = STEP_VALUES[field]
    key, _, sub = field.partition(".")  # env is set as a whole map, resources by quantity
    if key == "resources" and sub:
        value = {sub: value}
    return BASE, {f"{where}.{key}": value}, None


CONDITIONAL = [
    (path, column)
    for path, entries in support.TABLE.items()
    for column, entry in entries.items()
    if entry.status in ("warn", "refuse") and not _unsupported_strategy(path, column)
]


@pytest.mark.parametrize(("path", "column"), CONDITIONAL, ids=lambda v: v)
def test_a_warned_or_refused_field_gives_its_diagnostic(path: str, column: str) -> None:
    entry = support.TABLE[path][column]
    code = support.CODES[entry.status]
    text, edits, phrase = _trigger(path, column)
    base = load_text(text, "spec.yaml").data
    # a trigger names a pipeline beside the spec: compile it among the corpus specs
    file = str(SPECS / "spec.yaml") if path.startswith("triggers") else "spec.yaml"
    bound = path.startswith("environments")
    with_use, _ = _compile(_text(_edited(base, edits)), column, file, bound)
    found = [d for d in with_use if d.code == code]
    if phrase is not None:
        assert any(phrase in d.message for d in found), with_use
    else:
        before, _ = _compile(_text(base), column, file, bound)
        assert {(d.code, d.message) for d in found} - {(d.code, d.message) for d in before}, (
            with_use
        )
    assert all(d.severity == ("warning" if code == "MS302" else "error") for d in found)


UNSUPPORTED_STRATEGY = [
    (path, column)
    for path, entries in support.ROLLOUT_TABLE.items()
    for column in entries
    if _unsupported_strategy(path, column)
]


@pytest.mark.parametrize(("path", "column"), UNSUPPORTED_STRATEGY, ids=lambda v: v)
def test_a_strategy_field_is_refused_with_its_strategy(path: str, column: str) -> None:
    kind = _unsupported_strategy(path, column)
    assert support.TABLE[path][column].status == "refuse"
    slug = kind.replace("_", "-")  # type: ignore[union-attr]
    [case, *_] = sorted(UNSUPPORTED.glob(f"MS301-{column}-{slug}*.yaml"))
    found, files = _compile(case.read_text(encoding="utf-8"), column)
    assert files is None
    assert any(d.code == "MS301" and "cannot run" in d.message for d in found), found


# -- honoured entries: the output follows the field ---------------------------------------------

# Fields (on a column, or on all: '*') that no generic change shows: every change makes the spec
# invalid, or the column's output holds the field in a way only its own tests see.
NOT_GENERIC: dict[tuple[str, str], str] = {
    ("apiVersion", "*"): "one value is valid (tests/compiler)",
    ("kind", "*"): (
        "the other kind asks for other sections: every generic change is MS102 or MS105 "
        "(tests/compiler/test_monitor.py)"
    ),
    ("rollout.controller", "*"): "a change moves the spec to another column (tests/rollout)",
    ("steps.*.notebook", "*"): (
        "another path names no file (MS106); another notebook changes every target's output "
        "(tests/backends/test_notebook.py)"
    ),
    ("schedule.cron", "kubeflow"): "in the recurring run `mlspec deploy` makes (tests/deploy)",
    ("schedule.paused", "kubeflow"): "in the recurring run `mlspec deploy` makes (tests/deploy)",
    ("gates.*.require.*.vs", "*"): (
        "removing it needs `better` removed too; champion comparisons: tests/runtime/test_gates.py"
    ),
    ("registry.promote.*.after", "rollout"): (
        "only a rule that waits for the rollout matters (Istio's stable arm), and Istio needs it "
        "(tests/rollout/test_istio.py)"
    ),
    ("rollout.model_alias", "kserve"): (
        "another alias needs its own promotion rule (MS205); labels: tests/rollout/test_kserve.py"
    ),
    ("rollout.strategy.bandit.arms.*.model_alias", "istio"): (
        "another alias needs its own promotion rule (MS205); tests/rollout/test_bandit_manifests.py"
    ),
    ("steps.*.inputs.*.item", "*"): (
        "its one value is true (the shorthand `NAME: item`); what it passes: "
        "tests/compiler/test_fanout.py"
    ),
    ("registry.external_aliases", "*"): (
        "it only lets a model gate compare with an alias something else sets (MS205 without it); "
        "the comparison: tests/runtime/test_first_run.py"
    ),
    **{
        (f"{prefix}.code.root", "kubeflow"): (
            "another root holds no package, so the step has no way to its code (MS303) or, on "
            "code.image, nothing to install; the wheel pinned from the root's package changes "
            "with its code: tests/test_code_change.py"
        )
        for prefix in ("defaults", "steps.*")
    },
    **{
        (f"{prefix}.code.git.commit", "prefect"): (
            "a commit has one valid shape, 40 hex digits: every generic change is MS122; the "
            "pull step clones the pinned commit: tests/backends/test_prefect_delivery.py"
        )
        for prefix in ("defaults", "steps.*")
    },
    **{
        (f"{prefix}.code.{field}", column): (
            "delivers the same pinned package to another target, so nothing here changes: "
            "this target's copy has the same digest (docs/code-delivery.md; "
            "tests/test_code_change.py)"
        )
        for prefix in ("defaults", "steps.*")
        for field, columns in (
            ("wheels", ("airflow", "prefect")),
            ("git.url", ("kubeflow", "airflow")),
            ("git.commit", ("kubeflow", "airflow")),
            ("git.path", ("kubeflow", "airflow")),
        )
        for column in columns
    },
    ("triggers.*.manual", "*"): (
        "`manual: true` is the only valid value and says what a spec without schedule or "
        "triggers already does; refused beside them (MS105, tests/compiler); kubeflow deletes "
        "its recurring run: tests/deploy/test_kubeflow_deploy.py"
    ),
    **{
        (f"triggers.*.{kind}.name", column): (
            "another name must be a spec beside it (MS206): every generic change is refused; "
            "the event it waits for: the target's trigger tests"
        )
        for kind in ("pipeline", "monitor")
        for column in ("airflow", "prefect")
    },
    ("monitor.model.alias", "*"): (
        "another alias must be one the watched pipeline promotes to or lists (MS205): no "
        "generic change compiles; test_a_monitor_judges_the_alias_it_names proves it per target"
    ),
    ("monitor.model.pipeline", "*"): (
        "another name must be a Pipeline spec beside it (MS206): every generic change is "
        "refused; another watched pipeline: tests/compiler/test_monitor.py"
    ),
    **{
        (f"environments.*.{field}", "*"): (
            "read by `mlspec deploy --env` or `mlspec promote --env`, not compiled: "
            "tests/test_compile_environments.py shows every output the same without it"
        )
        for field in ("deploy.kubeflow", "deploy.airflow", "deploy.prefect", "promote_from")
    },
    ("environments.*.schedule.paused", "kubeflow"): (
        "in the recurring run `mlspec deploy` makes (tests/deploy)"
    ),
    ("rollout.strategy.canary.analysis", "flagger"): (
        "Flagger checks a canary's metrics alike whether the strategy or a step names them: "
        "removing one that a step also names changes nothing (MS302 for the step)"
    ),
}


@pytest.mark.parametrize("column", ["kubeflow", "airflow", "prefect"])
def test_a_monitor_judges_the_alias_it_names(column: str) -> None:
    spec = ROOT / "tests" / "support" / "specs" / "monitor-extras.yaml"
    data = _data(spec)
    _, before = _compiled(_text(data), column, str(spec))
    _, after = _compiled(
        _text(_edited(data, {"monitor.model.alias": "champion"})), column, str(spec)
    )
    assert before is not None and after is not None and before != after


def _not_generic(path: str, column: str) -> bool:
    return (path, column) in NOT_GENERIC or (path, "*") in NOT_GENERIC


def _occurrences(data: Any, parts: list[str], at: tuple = ()) -> Iterator[tuple]:
    if not parts:
        yield at
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = data.items() if isinstance(data, dict) else enumerate(data or [])
        for key, value in items:
            yield from _occurrences(value, rest, (*at, key))
    elif isinstance(data, dict) and head in data:
        yield from _occurrences(data[head], rest, (*at, head))


def _annotation(path: str) -> Any:
    """The annotation of the field at `path` in the spec models."""
    model: Any = s.Spec
    parts = [p for p in path.split(".") if p != "*"]
    for i, part in enumerate(parts):
        field = next(f for n, f in model.model_fields.items() if (f.alias or n) == part)
        if i == len(parts) - 1:
            return field.annotation
        model = next(m for _, m in _models(field.annotation))
    raise AssertionError(path)


def _literals(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [v for a in typing.get_args(annotation) for v in _literals(a)]


def _references(data: dict) -> list[str]:
    """Every `step.output` and `params.NAME` of the spec: what a reference could name instead."""
    steps = data.get("steps") or {}
    outputs = [f"{n}.{o}" for n, step in steps.items() for o in (step.get("outputs") or {})]
    return outputs + [f"params.{p}" for p in data.get("params") or {}]


def _changes(value: Any, path: str, data: dict) -> Iterator[Any]:
    """Other values to try, after removing the field: the first that compiles is compared."""
    yield from (v for v in _literals(_annotation(path)) if v != value)
    if isinstance(value, str) and "." in value:
        yield from (r for r in _references(data) if r != value)
    if isinstance(value, str) and value in (data.get("params") or {}):  # {param: NAME}
        yield from (p for p in data["params"] if p != value)
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int | float):
        yield from (value + 1, value - 1, value * 0.5, value + 0.01)
    elif isinstance(value, str):
        match = re.fullmatch(r"(\d+)([smhd])", value)
        if match:
            yield f"{int(match.group(1)) + 1}{match.group(2)}"
        yield from (value + "x", value + "1", "1" + value)
    elif isinstance(value, list) and value:
        yield from (value[:-1], value[1:], [*value, value[-1]])
    elif isinstance(value, dict) and value:
        keys = list(value)
        yield {k: v for k, v in value.items() if k != keys[-1]}
        yield {k: v for k, v in value.items() if k != keys[0]}


def _set(data: dict, at: tuple, value: Any) -> dict:
    out = copy.deepcopy(data)
    node = out
    for part in at[:-1]:
        node = node[part]
    if value is DELETE:
        if isinstance(node, list):
            node.pop(at[-1])
        else:
            del node[at[-1]]
    else:
        node[at[-1]] = value
    return out


def _corpus(path: str, column: str) -> Iterator[tuple[dict, tuple, str]]:
    parts = path.split(".")
    for spec in CORPUS:
        data = _data(spec)
        if column in CONTROLLERS and (data.get("rollout") or {}).get("controller") != column:
            continue
        for at in _occurrences(data, parts):
            yield data, at, str(spec)


# Fields that hold no other field: a section is honoured as its fields are.
LEAVES = [p for p in support.TABLE if not any(q.startswith(p + ".") for q in support.TABLE)]
HONOURED = [
    (path, column)
    for path in LEAVES
    for column, entry in support.TABLE[path].items()
    if entry.status == "honoured" and not _not_generic(path, column)
]


@pytest.mark.parametrize(("path", "column"), HONOURED, ids=lambda v: v)
def test_an_honoured_field_changes_the_output(path: str, column: str) -> None:
    unchanged = []
    bound = path.startswith("environments")  # bound by `compile --env`: compile every one
    for data, at, file in _corpus(path, column):
        _, before = _compiled(_text(data), column, file, bound)
        if before is None:
            continue
        node = data
        for part in at:
            node = node[part]
        for value in (DELETE, *_changes(node, path, data)):
            _, after = _compiled(_text(_set(data, at, value)), column, file, bound)
            if after is None:
                continue
            if after != before:
                return
            unchanged.append((at, value))
    assert not unchanged, f"{path} changed in the spec but not in the {column} output: {unchanged}"
    pytest.fail(f"no compiling change of {path} in the corpus: add a spec, or say why not")


def test_not_generic_names_honoured_fields_only() -> None:
    for path, column in NOT_GENERIC:
        entries = support.TABLE[path]
        shown = entries.values() if column == "*" else [entries[column]]
        assert all(e.status in ("honoured", "n/a") for e in shown), (path, column)
