"""`mlspec diff` never says "no semantic change" when the IR differs.

The hand-written rules rate the changes they know; the generic comparison (diff/fields.py)
reports every other field that differs. Proven end to end on the issue's examples and by an
exhaustive walk: every single-leaf mutation of the IR of every example spec is reported, and
the same IR is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import fields, is_dataclass, make_dataclass, replace
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

import pytest
from click.testing import CliRunner
from support.environments import with_environments

from mlspec.cli import main
from mlspec.compiler import Analysis, analyze_text, ir, spec
from mlspec.diagnostics import Span
from mlspec.diff import SpecDiff, diff, render
from mlspec.diff import fields as generic
from mlspec.diff.changes import KEYS, compare, rules
from mlspec.diff.changes.environments import compare_environments
from mlspec.diff.sources import Side

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
SPECS = [
    *sorted(ROOT.glob("examples/*/pipeline.yaml")),
    *sorted(ROOT.glob("examples/*/monitor.yaml")),
    *sorted((ROOT / "specs" / "valid").glob("*.yaml")),
    ROOT / "tests" / "support" / "specs" / "fanout.yaml",  # list params and per-item gates
]

# -- the issue's examples, through the command ----------------------------------------------

ANALYSIS = "      max: 0.01\n      interval: 1m\n      count: 5\n      failure_limit: 1\n"


def _edit(old: str, new: str) -> list[tuple[str, str]]:
    return [(ANALYSIS, ANALYSIS.replace(old, new))]


ISSUE = {
    "interval": (
        _edit("interval: 1m", "interval: 5m"),
        ("risky", "rollout", "analysis error_rate: interval 1m -> 5m", "pipeline"),
    ),
    "count": (
        _edit("count: 5", "count: 8"),
        ("safe", "rollout", "analysis error_rate: count 5 -> 8", "pipeline"),
    ),
    "failure_limit": (
        _edit("failure_limit: 1", "failure_limit: 0"),
        ("safe", "rollout", "analysis error_rate: failure limit 1 -> 0", "pipeline"),
    ),
    "registry.tags": (
        [("tags: {dataset: sklearn-breast-cancer}", "tags: {dataset: sklearn-bc-v2}")],
        (
            "review",
            "registry",
            'tags[dataset] "sklearn-breast-cancer" -> "sklearn-bc-v2"',
            "pipeline",
        ),
    ),
    "gate description": (
        [("looks like the data", "resembles the data")],
        (
            "review",
            "gate data_quality",
            'description "The training data looks like the data the current model was trained on."'
            ' -> "The training data resembles the data the current model was trained on."',
            None,
        ),
    ),
    "param description": (
        [("description: Trees in the forest.}", "description: Number of trees.}")],
        (
            "review",
            "param n_estimators",
            'description "Trees in the forest." -> "Number of trees."',
            None,
        ),
    ),
}


@pytest.mark.parametrize("name", ISSUE)
def test_the_issue_s_examples_are_reported(tmp_path: Path, name: str) -> None:
    edits, (risk, subject, summary, bump) = ISSUE[name]
    text = EXAMPLE.read_text()
    for before, after in edits:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(EXAMPLE.read_text())
    new.write_text(text)  # the version is unchanged: only the description needs no bump

    out = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"])
    changes = json.loads(out.output)["files"][0]["changes"]
    [change] = [c for c in changes if c["subject"] != "version"]
    assert change == {**change, "risk": risk, "subject": subject, "summary": summary, "bump": bump}
    # The version stays 1.0.0: flagged unless the change needs no bump.
    version = [c["summary"] for c in changes if c["subject"] == "version"]
    assert version == (
        [] if bump is None else ["1.0.0 unchanged: needs at least 1.0.1 (PIPELINE bump)"]
    )

    shown = CliRunner().invoke(main, ["diff", str(old), str(new)]).output
    assert "no semantic change" not in shown
    assert f"  {risk.upper():7} {subject}: {summary}\n" in shown
    table = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "markdown"]).output
    assert f"| `{subject}` | {summary} |" in table


# -- every single-leaf mutation of the IR ---------------------------------------------------

# Not mutated, the same list as `fields.SKIPPED` plus spans: a span is where the text sits and
# moves with every inserted line; `source_file` and `spec_path` are each side's label (old.yaml
# vs new.yaml); `version` names the change and is held to the bump the changes need (tests in
# test_diff.py).
# `texts_with_braces` is an index of the spec's text (metadata dump=False): each of its texts is
# also in its own field, where the change is reported. `spec_sha256` digests the spec's text: any
# field's change changes it too, and a comment's changes only it (the review shows the spec's diff).
NOT_MUTATED = {"source_file", "spec_path", "version"}
INDEXES = {"texts_with_braces", "spec_sha256"}
# Not dumped (no target compiles them) but mutated: a rule of their own reports each change.
RULED = {"tests"}


def test_the_excluded_fields_are_these_few() -> None:
    assert generic.SKIPPED == NOT_MUTATED
    not_dumped = {f.name for f in fields(ir.Pipeline) if not f.metadata.get("dump", True)}
    assert not_dumped == INDEXES | RULED


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(ir))


def _sample(hint: Any) -> Any:
    """A value of type `hint` (a None's replacement)."""
    if typing.get_origin(hint) in (typing.Union, UnionType):
        return _sample(next(arm for arm in typing.get_args(hint) if arm is not NoneType))
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)[0]
    if typing.get_origin(hint) is tuple:
        return ()
    if hint is Span:
        return Span("x.yaml", 1, 1, 1, 2)
    if is_dataclass(hint):
        return hint(**{f.name: _sample(_hints(hint)[f.name]) for f in fields(hint)})
    return {str: "x", int: 1, float: 0.5, bool: True}[hint]


def _tuple_hint(hint: Any) -> tuple[Any, ...]:
    """The element types of a tuple type (of the tuple arm of an optional one)."""
    if typing.get_origin(hint) is not tuple:
        hint = next(a for a in typing.get_args(hint) if typing.get_origin(a) is tuple)
    return typing.get_args(hint)


def mutations(value: Any, hint: Any) -> Iterator[tuple[str, Any]]:
    """(where, mutated value) for each single-leaf change of `value`."""
    optional = NoneType in typing.get_args(hint)
    if isinstance(value, Span) or (optional and Span in typing.get_args(hint)):
        return
    if value is None:
        yield "none -> value", _sample(hint)
        return
    if optional:
        yield "-> none", None
    if is_dataclass(value):
        hints = _hints(type(value))
        for f in fields(value):
            if f.name in NOT_MUTATED | INDEXES and isinstance(value, ir.Pipeline):
                continue
            for where, mutated in mutations(getattr(value, f.name), hints[f.name]):
                yield f"{f.name}.{where}", replace(value, **{f.name: mutated})
    elif isinstance(value, tuple):
        args = _tuple_hint(hint)
        variadic = len(args) == 2 and args[1] is Ellipsis  # else a record: (name, value)
        for i, item in enumerate(value):
            if variadic:
                yield f"[{i}] dropped", value[:i] + value[i + 1 :]
            for where, mutated in mutations(item, args[0] if variadic else args[i]):
                yield f"[{i}].{where}", (*value[:i], mutated, *value[i + 1 :])
    elif isinstance(value, bool):
        yield f"{value} -> {not value}", not value
    elif isinstance(value, int | float):
        step = 1 if isinstance(value, int) else 0.125
        yield f"{value} + {step}", value + step
        yield f"{value} - {step}", value - step
    elif isinstance(value, str):
        yield f"{value!r} + 'x'", value + "x"
    elif isinstance(value, bytes):  # a step package file's content
        yield "bytes + b'x'", value + b"x"
    else:
        raise AssertionError(f"a leaf of a type the walk does not know: {value!r}")


def _pipeline(path: Path, prefix: str = "") -> ir.Pipeline:
    pipeline = analyze_text(prefix + path.read_text(), str(path)).pipeline
    assert pipeline is not None
    return pipeline


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_single_field_mutation_is_reported(spec: Path) -> None:
    base = _pipeline(spec)
    seen = 0
    for where, mutated in mutations(base, ir.Pipeline):
        seen += 1
        for a, b in ((base, mutated), (mutated, base)):
            reported = rules(a, b)
            rest = generic.remaining(a, b, reported, KEYS)
            assert reported or rest, f"{spec.name}: {where} is not reported"
            # What a rule reports is not repeated: one leaf changed, one account of it.
            assert not (reported and rest), f"{spec.name}: {where}: {rest} repeats {reported}"
            shown = render.text([SpecDiff("a", "b", a, b, (*reported, *rest))])
            assert "no semantic change" not in shown and "\n\n" not in shown
    assert seen > 100, "the walk reached too few leaves"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_same_ir_is_no_change(spec: Path) -> None:
    base = _pipeline(spec)
    assert compare(base, base) == []
    # Lines moved (every span differs) and another file name: still the same pipeline (in the
    # same folder: the step package is read beside the spec).
    elsewhere = str(spec.parent / "elsewhere.yaml")
    moved = analyze_text("# a comment\n\n" + spec.read_text(), elsewhere).pipeline
    assert moved is not None and moved.span != base.span
    assert compare(base, moved) == []
    a, b = (str(spec.parent / name) for name in ("a.yaml", "b.yaml"))
    result = diff(Side(a, spec.read_text()), Side(b, "# c\n" + spec.read_text()))
    assert render.text([result]).endswith("no semantic change\n")


def _diff_in_a_process(old: Path, new: Path, seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", "diff", str(old), str(new), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_order_is_deterministic(tmp_path: Path) -> None:
    """Rules in spec order, then the other fields in IR order; the same bytes in every process
    (string hashing differs between processes, so no set may decide an order)."""
    extra = "".join(f"  unused_{n}: {{type: str, default: {n}}}\n" for n in "abcdef")
    text = EXAMPLE.read_text()
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(text.replace("\nparams:\n", "\nparams:\n" + extra))
    for edits, _ in ISSUE.values():
        for before, after in edits:
            text = text.replace(before, after)
    new.write_text(text)
    first = _diff_in_a_process(old, new, "0")
    assert first == _diff_in_a_process(old, new, "4242")
    said = [(c["subject"], c["summary"]) for c in json.loads(first)["files"][0]["changes"]]
    assert [s for s, _ in said if s.startswith("param unused")] == [
        f"param unused_{n}" for n in "abcdef"
    ]
    assert [s for s, summary in said if summary.startswith(("description", "tags"))] == [
        "param n_estimators",
        "gate data_quality",
        "registry",
    ]


def test_a_field_new_to_the_ir_is_compared_without_code() -> None:
    """What another change adds to the IR (say, aliases the registry leaves to others) is
    compared by the walk as it is, field by field."""
    base = _pipeline(EXAMPLE)
    assert base.registry is not None
    wider = make_dataclass(
        "Registry",
        [("external_aliases", tuple[str, ...], ())],
        bases=(ir.Registry,),
        frozen=True,
    )
    old_registry = wider(**{f.name: getattr(base.registry, f.name) for f in fields(ir.Registry)})
    old = replace(base, registry=old_registry)
    new = replace(old, registry=replace(old_registry, external_aliases=("prod",)))
    [change] = compare(old, new)
    assert (change.risk, change.subject) == ("review", "registry")
    assert change.summary == 'external_aliases [] -> ["prod"]'
    assert change.bump == "pipeline"


def test_a_long_text_is_shown_around_its_first_difference(tmp_path: Path) -> None:
    paragraph = "Flags malignant tumours from cell-nucleus measurements.\n" * 3
    text = EXAMPLE.read_text().replace(
        "  description: Flags malignant tumours from cell-nucleus measurements.\n",
        "  description: |\n" + "".join(f"    {line}\n" for line in paragraph.splitlines()),
    )
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(text)
    new.write_text(text.replace("measurements.\n  owners", "measures.\n  owners"))

    shown = CliRunner().invoke(main, ["diff", str(old), str(new)]).output
    assert shown.splitlines()[1:] == [
        '  REVIEW  pipeline: description "… from cell-nucleus measurements.\\n"'
        ' -> "… from cell-nucleus measures.\\n"',
        "          text people read; nothing that runs changes",
    ]
    table = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "markdown"])
    assert "| 🟡 review | `pipeline` | description " in table.output


# -- every single-field mutation of an environment ------------------------------------------

# Environments are not in the IR: diff compares each as written and rates it by what it binds
# (diff/changes/environments.py). The spec: support.environments, every field set somewhere.

# A value for a field set where it was not, or one a string's mutation must keep valid.
SAMPLES: dict[str, Any] = {
    "tracking_uri": "http://mlflow.other:5000",
    "registered_model": "other-model",
    "artifact_root": "s3://other",
    "namespace": "other",
    "prometheus": "http://prometheus.other:9090",
    "kubeflow": "https://kfp.other",
    "airflow": "https://airflow.other",
    "prefect": "https://prefect.other/api",
    "cluster": "https://k8s.other",
    "from_": "ghcr.io/acme",
    "to": "registry.other/acme",
    "paused": True,
    "replicas": 2,
    "cpu": "3",
    "memory": "3Gi",
    "gpu": 1,
    "max": 1000.0,
    "promote_from": "dev",
}


def _sample_model(cls: type[spec.Model]) -> spec.Model:
    return cls.model_construct(**{n: SAMPLES[n] for n in cls.model_fields if n in SAMPLES})


def env_mutations(value: Any, name: str, hint: Any) -> Iterator[tuple[str, Any]]:
    """(where, mutated value) for each single-leaf change of an environment's field `name`."""
    if value is None:
        arms = [
            a for a in typing.get_args(hint) if isinstance(a, type) and issubclass(a, spec.Model)
        ]
        yield "none -> value", _sample_model(arms[0]) if arms else SAMPLES[name]
        return
    if NoneType in typing.get_args(hint):
        yield "-> none", None
    if isinstance(value, spec.Model):
        for field, info in type(value).model_fields.items():
            for where, mutated in env_mutations(getattr(value, field), field, info.annotation):
                yield f"{field}.{where}", value.model_copy(update={field: mutated})
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"[{key}] dropped", {k: v for k, v in value.items() if k != key}
            for where, mutated in env_mutations(item, name, typing.get_args(hint)[1]):
                yield f"[{key}].{where}", {**value, key: mutated}
    elif isinstance(value, bool):
        yield f"{value} -> {not value}", not value
    elif isinstance(value, int | float):  # a stricter bound stays stricter than the spec's
        step = 1 if isinstance(value, int) else 0.01
        yield f"{value} + {step}", value + step
    elif name in ("cpu", "memory", "promote_from"):
        other = SAMPLES[name] if value != SAMPLES[name] else "staging"
        yield f"{value!r} -> {other!r}", other
    else:
        yield f"{value!r} + 'x'", value + "x"


def test_every_environment_field_mutation_is_reported() -> None:
    base = analyze_text(with_environments(), str(EXAMPLE))
    assert list(compare_environments(base, base)) == []
    hint = spec.Spec.model_fields["environments"].annotation
    seen: set[str] = set()
    count = 0
    for where, mutated in env_mutations(base.spec.environments, "environments", hint):
        count += 1
        seen.add(where.split(".")[1] if "." in where else where)
        other = Analysis(base.source, base.spec.model_copy(update={"environments": mutated}), ())
        for a, b in ((base, other), (other, base)):
            said = list(compare_environments(a, b))
            assert said, f"environments{where} is not reported"
            shown = render.text([SpecDiff("a", "b", a.pipeline, b.pipeline, tuple(said))])
            assert "no semantic change" not in shown, where
    # Every field of an environment was mutated somewhere (a field added to spec.Environment
    # is walked without a line here; this says the fixture sets it).
    assert set(spec.Environment.model_fields) <= seen, set(spec.Environment.model_fields) - seen
    assert count > 60, count
