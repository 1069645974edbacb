"""Rolling an alias back, on a real SQLite MLflow registry: one step, recorded, idempotent, and
refused when there is nothing to roll back to."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.runtime.registry import (
    REGISTRY_TAG_PREVIOUS_PREFIX,
    REGISTRY_TAG_ROLLED_BACK_PREFIX,
    PromotionRefused,
    promote,
    register_model_version,
)
from mlspec.runtime.rollback import rollback

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

MODEL = "breast-cancer-classifier"  # the flagship's registered model
FLAGSHIP = Path(__file__).parents[2] / "examples" / "breast-cancer" / "pipeline.yaml"


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion(uri: str) -> str:
    return str(client(uri).get_registered_model(MODEL).aliases["champion"])


def versions(uri: str, model_path: str, count: int) -> list[str]:
    """`count` versions, each promoted to champion in turn (every gate passed)."""
    made = []
    for i in range(count):
        version = register_model_version(
            uri,
            MODEL,
            model_path,
            run_id=f"run-{i}",
            spec_name="breast-cancer-classifier",
            spec_version="1.0.0",
            gate_reports=[],
            metrics={},
        )
        promote(uri, MODEL, version, "champion", [])
        made.append(version)
    return made


def test_promotion_records_where_the_alias_came_from(uri: str, model_path: str) -> None:
    v1, v2 = versions(uri, model_path, 2)
    tags = client(uri).get_model_version(MODEL, v2).tags
    assert tags[REGISTRY_TAG_PREVIOUS_PREFIX + "champion"] == v1
    assert (
        REGISTRY_TAG_PREVIOUS_PREFIX + "champion"
        not in client(uri).get_model_version(MODEL, v1).tags
    )  # the first version an alias named has no predecessor
    promote(uri, MODEL, v2, "champion", [])  # promoting again changes no record
    assert client(uri).get_model_version(MODEL, v2).tags == tags


def test_a_rollback_moves_one_step_back_and_says_why(uri: str, model_path: str) -> None:
    v1, v2, v3 = versions(uri, model_path, 3)
    assert rollback(uri, MODEL, "champion", v3, "drift on mean_texture") == (v2, True)
    assert champion(uri) == v2
    tag = (
        client(uri).get_model_version(MODEL, v3).tags[REGISTRY_TAG_ROLLED_BACK_PREFIX + "champion"]
    )
    assert tag == f"to version {v2}: drift on mean_texture"
    # Retried for the same bad version (a monitor run again): nothing moves.
    assert rollback(uri, MODEL, "champion", v3, "drift on mean_texture") == (v2, False)
    assert champion(uri) == v2
    # Without --from-version a person may step back again, down to the first version.
    assert rollback(uri, MODEL, "champion", None, "still bad") == (v1, True)
    with pytest.raises(PromotionRefused, match="nothing to roll back to"):
        rollback(uri, MODEL, "champion", None, "and again")
    assert champion(uri) == v1


def test_a_rollback_of_a_version_the_alias_already_left_is_refused(
    uri: str, model_path: str
) -> None:
    v1, _, v3 = versions(uri, model_path, 3)
    with pytest.raises(PromotionRefused, match="moved since"):
        rollback(uri, MODEL, "champion", v1, "stale alarm")
    assert champion(uri) == v3


def test_an_empty_registry_or_an_unset_alias_is_refused(uri: str, model_path: str) -> None:
    with pytest.raises(PromotionRefused, match="no alias 'champion'"):
        rollback(uri, MODEL, "champion", None, "why")
    versions(uri, model_path, 1)
    with pytest.raises(PromotionRefused, match="no alias 'challenger'"):
        rollback(uri, MODEL, "challenger", None, "why")


def test_the_command_rolls_back_and_exits_3_when_it_cannot(uri: str, model_path: str) -> None:
    v1, v2 = versions(uri, model_path, 2)
    base = ["rollback", str(FLAGSHIP), "--alias", "champion", "--tracking-uri", uri]
    done = CliRunner().invoke(main, [*base, "--reason", "p95 up", "--from-version", v2])
    assert done.exit_code == 0, done.output
    assert done.stdout == f"{MODEL} 'champion' is back on version {v1}\n"
    again = CliRunner().invoke(main, [*base, "--reason", "p95 up", "--from-version", v2])
    assert again.exit_code == 0 and "already" in again.stdout
    refused = CliRunner().invoke(main, [*base, "--reason", "x", "--format", "json"])
    assert refused.exit_code == 3
    assert '"rolled_back": false' in refused.stdout and "nothing to roll back to" in refused.stderr
    unknown = CliRunner().invoke(main, [*base[:3], "gold", "--reason", "x"])
    assert unknown.exit_code == 2 and "no alias 'gold'" in unknown.output
