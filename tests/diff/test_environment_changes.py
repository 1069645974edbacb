"""`mlspec diff` on environment changes (issue #24): each rated by what it does where.

The sides are the example with three environments (support.environments), edited, both read
under the example's name so that its step package is found.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.environments import EXAMPLE, with_environments

from mlspec.cli import main
from mlspec.compiler import analyze_text
from mlspec.diff import diff
from mlspec.diff.changes.environments import production
from mlspec.diff.sources import Side

PROD_GATE = "      model_quality: {require: {evaluate.accuracy: {min: 0.95}}}\n"
# (edits of the new side, the expected (risk, subject, summary) of every change but the version)
CASES = {
    "production pointed at another registry": (
        [('tracking_uri: "http://mlflow.prod:5000"', 'tracking_uri: "http://mlflow.new:5000"')],
        [
            (
                "risky",
                "environment prod",
                "registry.tracking_uri http://mlflow.prod:5000 -> http://mlflow.new:5000",
            )
        ],
    ),
    "dev pointed at another registry": (
        [('tracking_uri: "http://mlflow.dev:5000"', 'tracking_uri: "http://mlflow.dev2:5000"')],
        [
            (
                "review",
                "environment dev",
                "registry.tracking_uri http://mlflow.dev:5000 -> http://mlflow.dev2:5000",
            )
        ],
    ),
    "production in another namespace": (
        [("namespace: ml-prod\n", "namespace: ml-prod-2\n")],
        [("risky", "environment prod", "namespace ml-prod -> ml-prod-2")],
    ),
    "production takes on the spec's namespace": (
        [("    namespace: ml-prod\n", "")],
        [("risky", "environment prod", "namespace ml-prod -> the spec's (ml-serving)")],
    ),
    "production inherits another registry": (
        [
            ('tracking_uri: "http://mlflow.prod:5000"}', "}"),
            (
                "mlflow: {registered_model: breast-cancer-classifier}",
                'mlflow: {registered_model: breast-cancer-classifier, tracking_uri: "http://m:5000"}',
            ),
        ],
        [
            ("review", "registry", "tracking_uri none -> http://m:5000"),
            (
                "risky",
                "environment prod",
                "registry.tracking_uri http://mlflow.prod:5000 -> the spec's (http://m:5000)",
            ),
        ],
    ),
    "an environment removed": (
        [("  dev:\n", "  scratch:\n"), ("    promote_from: dev\n", "")],
        [
            ("risky", "environment dev", "removed"),
            ("review", "environment scratch", "added"),
            ("risky", "environment staging", "promote_from dev -> none"),
        ],
    ),
    "a production gate loosened": (
        [(PROD_GATE, PROD_GATE.replace("0.95", "0.92"))],
        [
            (
                "risky",
                "environment prod",
                "gate model_quality: min of evaluate.accuracy lowered: 0.95 -> 0.92",
            )
        ],
    ),
    "a production gate's override dropped": (
        [(PROD_GATE, "")],
        [
            (
                "risky",
                "environment prod",
                "gate model_quality: min of evaluate.accuracy lowered: 0.95 -> 0.9",
            )
        ],
    ),
    "a production gate tightened": (
        [(PROD_GATE, PROD_GATE.replace("0.95", "0.97"))],
        [
            (
                "safe",
                "environment prod",
                "gate model_quality: min of evaluate.accuracy raised: 0.95 -> 0.97",
            )
        ],
    ),
    "the spec's gate loosened under a stricter production bound": (
        [("{metric: evaluate.accuracy, min: 0.9}", "{metric: evaluate.accuracy, min: 0.85}")],
        # prod keeps 0.95: only the spec's change, nothing for prod
        [("risky", "gate model_quality", "min of evaluate.accuracy lowered: 0.9 -> 0.85")],
    ),
    "serving resized, secret rebound, schedule paused": (
        [
            ("replicas: 6", "replicas: 4"),
            ("name: prod-s3", "name: prod-s3-v2"),
            ("    schedule: {paused: false}\n", "    schedule: {paused: true}\n"),
        ],
        [
            ("review", "environment prod", "serving.replicas 6 -> 4"),
            ("review", "environment prod", "schedule.paused false -> true"),
            (
                "review",
                "environment prod",
                "secrets.S3_KEY {name: prod-s3, key: secret-key} -> "
                "{name: prod-s3-v2, key: secret-key}",
            ),
        ],
    ),
    "production promoted from another environment": (
        [("    promote_from: staging\n", "    promote_from: dev\n")],
        [("risky", "environment prod", "promote_from staging -> dev")],
    ),
    "another deploy server": (
        [("https://kfp.prod.acme.io", "https://kfp2.prod.acme.io")],
        [
            (
                "review",
                "environment prod",
                "deploy.kubeflow https://kfp.prod.acme.io -> https://kfp2.prod.acme.io",
            )
        ],
    ),
    "the same value set where it was the spec's": (
        [
            (
                "    namespace: ml-staging\n",
                "    namespace: ml-staging\n    serving: {replicas: 3}\n",
            )
        ],
        [("safe", "environment staging", "serving.replicas the spec's (3) -> 3")],
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_environment_changes_are_rated(name: str) -> None:
    edits, expected = CASES[name]
    old = with_environments()
    new = old
    for before, after in edits:
        assert new.count(before) == 1, before
        new = new.replace(before, after)
    result = diff(Side(str(EXAMPLE), old), Side(str(EXAMPLE), new))
    said = [(c.risk, c.subject, c.summary) for c in result.changes if c.subject != "version"]
    assert sorted(said) == sorted(expected)


def test_a_promotion_source_added_is_reviewed_and_one_dropped_is_risky() -> None:
    chained = with_environments()
    unchained = chained.replace("    promote_from: dev\n", "")
    for old, new, expected in (
        (unchained, chained, ("review", "promote_from none -> dev")),
        (chained, unchained, ("risky", "promote_from dev -> none")),
    ):
        result = diff(Side(str(EXAMPLE), old), Side(str(EXAMPLE), new))
        said = [(c.risk, c.summary) for c in result.changes if c.subject == "environment staging"]
        assert said == [expected]


def test_the_command_says_what_changed_in_an_environment(tmp_path: Path) -> None:
    """Before environments were compared, this edit was "no semantic change"."""
    text = with_environments()
    edited = text.replace("namespace: ml-prod\n", "namespace: ml-prod-2\n")
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    # beside the example's step package: the spec reads it from its own folder
    shutil.copytree(EXAMPLE.parent / "breast_cancer", tmp_path / "breast_cancer")
    old.write_text(text)
    new.write_text(edited)
    out = CliRunner().invoke(main, ["diff", str(old), str(new), "--fail-on", "risky"])
    assert out.exit_code == 1, out.output
    assert "no semantic change" not in out.output
    assert "  RISKY   environment prod: namespace ml-prod -> ml-prod-2\n" in out.output
    assert "          production serves from another namespace\n" in out.output


def test_production_is_named_so_or_the_end_of_the_promotion_chain() -> None:
    text = with_environments()
    assert production(analyze_text(text, str(EXAMPLE)).spec) == {"prod"}
    # `live` promotes from staging and nothing promotes from it (staging promotes from dev,
    # but live from staging: staging is not production)
    live = text.replace("  prod:\n", "  live:\n")
    assert production(analyze_text(live, str(EXAMPLE)).spec) == {"live"}
    # no promotion chain, no production name: no production
    plain = live.replace("    promote_from: staging\n", "").replace("    promote_from: dev\n", "")
    assert production(analyze_text(plain, str(EXAMPLE)).spec) == frozenset()
