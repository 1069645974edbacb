"""The JSON Schema of the spec language, generated from the pydantic models.

Field types (compiler/fields.py) carry their patterns, models (compiler/spec.py) their
descriptions and the rules between fields; this module adds what concerns the whole document.
The schema is draft 2020-12 and its patterns are valid in Python and ECMAScript alike, so
check-jsonschema, ajv and yaml-language-server read it the same way. It is committed as
schemas/mlspec.schema.json and shipped in the wheel as mlspec/schemas/mlspec.schema.json.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from mlspec.compiler.spec import API_VERSION, Spec

# One schema per language version: mlspec/v1 -> .../schemas/v1/mlspec.schema.json.
SCHEMA_ID = f"https://mlspec.dev/schemas/{API_VERSION.split('/')[1]}/mlspec.schema.json"


class _Generator(GenerateJsonSchema):
    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        """Keys with a pattern are checked with `propertyNames`: pydantic's `patternProperties`
        would let a key that does not match through unchecked."""
        json_schema = super().dict_schema(schema)
        patterns = json_schema.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            json_schema["additionalProperties"] = values
            json_schema["propertyNames"] = {
                "pattern": pattern,
                **json_schema.get("propertyNames", {}),
            }
        return json_schema

    def field_title_should_be_set(self, schema: Any) -> bool:
        """No titles on fields: they repeat the key and would crowd out the description."""
        return False

    def generate(self, schema: core_schema.CoreSchema, mode: Any = "validation") -> JsonSchemaValue:
        """Descriptions come from docstrings wrapped at the code's width: one line each."""
        unwrapped: JsonSchemaValue = _unwrap(super().generate(schema, mode))
        return unwrapped


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: " ".join(v.split()) if k == "description" and isinstance(v, str) else _unwrap(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def json_schema() -> str:
    schema = Spec.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
