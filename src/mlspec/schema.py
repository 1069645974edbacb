"""The JSON Schema of the spec language, generated from the pydantic models."""

from __future__ import annotations

import json

from mlspec.compiler.spec import Spec

SCHEMA_ID = "https://mlspec.dev/schemas/mlspec.schema.json"


def json_schema() -> str:
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
