"""Loaded data -> `Spec`, with every pydantic error translated into a positioned diagnostic."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mlspec.compiler.environments import fixed
from mlspec.compiler.fields import type_name
from mlspec.compiler.source import PathKey, Source
from mlspec.compiler.spec import Spec
from mlspec.diagnostics import Diagnostic, SpecError
from mlspec.names import suggest

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "none_required": "nothing",
}
_CONSTRAINTS = {
    "too_short": "needs at least {min_length} item(s)",
    "too_long": "allows at most {max_length} item(s)",
    "string_too_short": "must not be empty",
    "string_too_long": "is longer than {max_length} characters",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_pattern_mismatch": "does not match the pattern {pattern}",
}


def parse(source: Source) -> Spec:
    """Validate loaded data against the spec models; raise SpecError with all problems."""
    try:
        return Spec.model_validate(source.data)
    except ValidationError as exc:
        raise SpecError(_translate(exc.errors(include_url=False), source)) from None


def _translate(errors: list[ErrorDetails], source: Source) -> list[Diagnostic]:
    # Union members report one error each under made-up loc parts; group by the real path.
    grouped: dict[tuple[PathKey, bool, str | None], list[ErrorDetails]] = {}
    for err in errors:
        path, at_key, field = _real_path(err, source)
        grouped.setdefault((path, at_key, field), []).append(err)
    found: dict[tuple[Any, ...], Diagnostic] = {}
    for (path, at_key, field), errs in grouped.items():
        diag = _diagnose(errs, path, at_key, field, source)
        found.setdefault((diag.span, diag.code, diag.message), diag)
    return list(found.values())


def _real_path(err: ErrorDetails, source: Source) -> tuple[PathKey, bool, str | None]:
    """The part of an error's loc that exists in the document; the key flag; a named field."""
    loc = list(err["loc"])
    at_key = False
    if loc and loc[-1] == "[key]":
        loc.pop()
        at_key = True
    named = err["type"] in ("missing", "extra_forbidden")
    field = str(loc.pop()) if named and loc else None
    path: PathKey = ()
    for part in loc:
        candidate = (*path, part)
        if candidate in source.values or candidate in source.keys:
            path = candidate
    if field is not None:
        return path, at_key, field
    at = (err.get("ctx") or {}).get("at")
    if at is not None and (*path, *at) in source.keys:
        return (*path, *at), True, None
    return path, at_key, None


def _diagnose(
    errs: list[ErrorDetails], path: PathKey, at_key: bool, field: str | None, source: Source
) -> Diagnostic:
    err = errs[0]
    kind = err["type"]
    ctx = err.get("ctx") or {}
    where = describe_path(path)
    value = err.get("input")
    if kind == "extra_forbidden" and field is not None:
        span = source.key_span((*path, field))
        same_everywhere = fixed(path, field)
        if same_everywhere is not None:
            return Diagnostic(span, "MS271", *same_everywhere)
        return Diagnostic(
            span,
            "MS101",
            f"unknown field {field!r} in {where}",
            _unknown_field_hint(field, _allowed_fields(path)),
        )
    if kind == "missing" and field is not None:
        span = source.key_span(path) if path else source.span(())
        hint: str | None = (
            "start the spec with `apiVersion: mlspec/v1`"
            if field == "apiVersion"
            else f"add `{field}:` to {where}; see specs/README.md"
        )
        return Diagnostic(span, "MS102", f"missing required field {field!r} in {where}", hint)
    # A rule about a whole mapping points at the mapping's name, not at its first line.
    whole = kind.startswith("MS") and isinstance(value, dict) and not at_key
    span = source.key_span(path) if at_key or whole else source.span(path)
    if kind.startswith("MS"):
        message = err["msg"]
        return Diagnostic(span, kind, message, ctx.get("hint"))
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if path in (("apiVersion",), ("kind",)):
            return Diagnostic(
                span,
                "MS010",
                f"unsupported {path[0]} {value!r}",
                f"this mlspec reads {path[0]}: {' or '.join(options)}",
            )
        hint = suggest(str(value), options, prefix=isinstance(value, str)) or (
            f"use one of: {', '.join(options)}"
        )
        return Diagnostic(span, "MS104", f"invalid value {value!r} for {where}", hint)
    if kind in _CONSTRAINTS:
        shown = f"{value!r}" if not isinstance(value, dict | list) else where
        detail = _CONSTRAINTS[kind].format(**ctx)
        return Diagnostic(
            span,
            "MS104",
            f"{shown} in {where} {detail}" if shown != where else f"{where} {detail}",
            None,
        )
    expected = [_EXPECTED[e["type"]] for e in errs if e["type"] in _EXPECTED]
    if expected:
        wanted = " or ".join(dict.fromkeys(expected))
        hint = None
        if "true or false" in expected and isinstance(value, str):
            hint = "YAML 1.2 reads yes/no/on/off as strings; write true or false"
        elif (
            "a string" in expected
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            hint = f'quote it: "{value}"'
        return Diagnostic(span, "MS103", f"{where} must be {wanted}, not {type_name(value)}", hint)
    message = err["msg"].removeprefix("Value error, ")
    return Diagnostic(span, "MS104", f"{where}: {message}", None)


def describe_path(path: PathKey) -> str:
    if not path:
        return "the spec"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return f"'{text}'"


def _unknown_field_hint(field: str, allowed: list[str]) -> str | None:
    if field == "<<":
        return "YAML merge keys are YAML 1.1; mlspec reads YAML 1.2. Use `defaults:` instead"
    return suggest(field, allowed) or (f"allowed here: {', '.join(allowed)}" if allowed else None)


def _allowed_fields(path: PathKey) -> list[str]:
    """The field names (as written in YAML) of the model found at `path` in the spec."""
    types_here: list[Any] = [Spec]
    for part in path:
        next_types: list[Any] = []
        for tp in types_here:
            for candidate in _unwrap(tp):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    for name, info in candidate.model_fields.items():
                        if part in (name, info.alias):
                            next_types.append(info.annotation)
                elif typing.get_origin(candidate) is dict and not isinstance(part, int):
                    next_types.append(typing.get_args(candidate)[1])
                elif typing.get_origin(candidate) is list and isinstance(part, int):
                    next_types.append(typing.get_args(candidate)[0])
        types_here = next_types
    fields: list[str] = []
    for tp in types_here:
        for candidate in _unwrap(tp):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                fields += [info.alias or name for name, info in candidate.model_fields.items()]
    return list(dict.fromkeys(fields))


def _unwrap(tp: Any) -> list[Any]:
    """Strip Annotated and Optional/Union layers: the concrete types a value may take."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]
