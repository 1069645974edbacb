"""Environments in the front end (issue #24): what may not differ is MS271 at its line, saying
which part and why; `bind` mirrors images on whole name parts (code and bandit images too),
tightens only the bounds a check has, and keeps the positions of the spec's data checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.compiler import analyze_text
from mlspec.compiler.environments import mirrored
from mlspec.compiler.spec import ImageMirror
from mlspec.diagnostics import SpecError

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = (ROOT / "examples" / "breast-cancer" / "pipeline.yaml").read_text()
VALID = (ROOT / "specs" / "valid" / "environments.yaml").read_text()


def errors(text: str) -> list[tuple[str, int, int, str, str]]:
    with pytest.raises(SpecError) as caught:
        analyze_text(text, "spec.yaml")
    return [
        (d.code, d.span.line, d.span.col, d.message, d.hint or "") for d in caught.value.diagnostics
    ]


def with_env(lines: str) -> tuple[str, int]:
    """The flagship with an environment `qa` of `lines`; the line number of its first line."""
    anchor = "\n# Step tests on fixtures"
    text = FLAGSHIP.replace(anchor, "  qa:\n" + lines + anchor)
    assert text != FLAGSHIP
    return text, text.splitlines().index(lines.splitlines()[0]) + 1


@pytest.mark.parametrize(
    ("lines", "field", "what"),
    [
        ("    rollout: {strategy: {canary: {steps: [{weight: 50}]}}}\n", "rollout", "the rollout"),
        ("    params: {min_auc: {type: float, default: 0.5}}\n", "params", "parameters"),
        ("    registry: {promote: [{alias: champion, after: [x]}]}\n", "promote", "promotion"),
        ("    gates: {model_quality: {on_fail: warn}}\n", "on_fail", "a gate's data"),
        (
            "    gates: {model_quality: {require: {evaluate.auc: {vs: champion}}}}\n",
            "vs",
            "a check's or requirement's kind",
        ),
        ("    schedule: {cron: '0 4 * * *', paused: false}\n", "cron", "the schedule's cron"),
        ("    serving: {port: 9090}\n", "port", "the serving service"),
        ("    steps: {train: {timeout: 1h}}\n", "steps", "steps, their code"),
    ],
)
def test_an_override_of_what_may_not_differ_is_ms271(lines: str, field: str, what: str) -> None:
    text, line = with_env(lines)
    [(code, at_line, at_col, message, hint)] = errors(text)
    assert (code, at_line, at_col) == ("MS271", line, lines.index(field + ":") + 1), message
    assert message.startswith(what) and "cannot differ per environment" in message
    assert f"({field!r} in environment 'qa')" in message and hint


def test_a_typo_in_an_environment_stays_ms101_with_its_suggestion() -> None:
    text, line = with_env("    namespce: ml-qa\n")
    assert errors(text) == [
        (
            "MS101",
            line,
            5,
            "unknown field 'namespce' in 'environments.qa'",
            "did you mean 'namespace'?",
        )
    ]


def test_a_mirror_replaces_whole_name_parts_only() -> None:
    mirror = ImageMirror.model_validate({"from": "ghcr.io/acme", "to": "registry.prod/acme"})
    assert mirrored("ghcr.io/acme/x:1", mirror) == "registry.prod/acme/x:1"
    assert mirrored("ghcr.io/acmecorp/x:1", mirror) is not None
    assert mirrored("ghcr.io/acmecorp/x:1", mirror) == "ghcr.io/acmecorp/x:1"
    assert mirrored("ghcr.io/acme@sha256:" + "a" * 64, mirror).startswith("registry.prod/acme@")


def test_prod_binds_every_image_and_tightens_only_the_bounds_the_spec_sets() -> None:
    bound = analyze_text(VALID, "spec.yaml").for_environment("prod").pipeline
    assert {s.image for s in bound.steps} == {"registry.prod.acme.io/acme/tools:1.0.0"}
    assert bound.rollout is not None
    assert bound.rollout.service.image == "registry.prod.acme.io/acme/scorer:1.0.0"
    assert (bound.rollout.service.namespace, bound.rollout.service.replicas) == ("ml-prod", 4)
    [secret] = [e for s in bound.steps for e in s.env if e.secret is not None]
    assert (secret.secret.name, secret.secret.key) == ("demo-db-prod", "password")


def test_a_tightened_column_of_a_list_gets_its_own_check_after_the_others() -> None:
    """The spec's checks keep their places (and so their positions); null_fraction.age,
    tightened in prod, is a check of its own, last, at prod's line."""
    analysis = analyze_text(VALID, "spec.yaml")
    plain = {g.name: g for g in analysis.pipeline.gates}["rows_ok"].checks
    checks = {g.name: g for g in analysis.for_environment("prod").pipeline.gates}["rows_ok"].checks
    assert [(c.kind, c.column, c.columns, c.min, c.max) for c in checks] == [
        ("row_count", None, (), 100.0, 500000.0),
        ("null_fraction", "amount", (), None, 0.1),  # the one column left
        ("range", "amount", (), 1.0, 5000.0),
        ("null_fraction", "age", (), None, 0.05),
    ]
    assert [c.span.line for c in checks[:3]] == sorted({c.span.line for c in plain})
    lines = VALID.splitlines()
    prod_checks = next(i for i, s in enumerate(lines) if "null_fraction.age: {max: 0.05}" in s)
    assert checks[3].span.line == prod_checks + 1


def test_an_environment_named_all_is_reserved() -> None:
    text = FLAGSHIP.replace("  dev:\n", "  all:\n")
    assert [e[0] for e in errors(text)] == ["MS222"]
