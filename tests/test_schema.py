"""schemas/mlspec.schema.json is generated from the models and accepts every valid spec."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mlspec.compiler.source import read
from mlspec.schema import json_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schemas" / "mlspec.schema.json"
EXAMPLES = sorted(ROOT.glob("examples/*/pipeline.yaml"))
VALID = [*EXAMPLES, *sorted(ROOT.glob("specs/valid/*.yaml"))]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_committed_schema_matches_the_models() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == json_schema(), (
        "schemas/mlspec.schema.json is out of date; regenerate it with:\n"
        "    uv run mlspec schema > schemas/mlspec.schema.json"
    )


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(json_schema()))


@pytest.mark.parametrize("path", VALID, ids=_id)
def test_schema_accepts_valid_specs(path: Path) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(json_schema()))
    data = read(path).data
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_examples_carry_the_schema_modeline(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/mlspec.schema.json"
