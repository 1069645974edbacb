"""schemas/mlspec.schema.json is generated from the models and agrees with `mlspec validate`.

Both directions are pinned: every valid spec passes the schema, and every invalid corpus case
fails it, except the cases in SCHEMA_CANNOT_SAY, each with the reason JSON Schema cannot
express its mistake; so a rule gained or lost either way shows up here. Cases that do not load
as YAML (MS0xx: syntax, duplicate keys, tags, ...) never reach a schema and are out of scope.
Validation uses the jsonschema library, as check-jsonschema does, with formats not checked.

Editors (yaml-language-server) and ajv read the patterns as ECMAScript regular expressions: a
test runs every pattern under node with the `u` flag and compares its verdicts with Python's.
"""

from __future__ import annotations

import copy
import json
import keyword
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict, TypeAdapter, ValidationError

from mlspec.compiler import analyze_text, fields
from mlspec.compiler.source import read
from mlspec.diagnostics import SpecError
from mlspec.schema import SCHEMA_ID, json_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schemas" / "mlspec.schema.json"
EXAMPLES = sorted(ROOT.glob("examples/*/pipeline.yaml"))
MONITORS = [
    *sorted(ROOT.glob("examples/*/monitor.yaml")),
    ROOT / "tests/support/specs/monitor-extras.yaml",
]
VALID = [*EXAMPLES, *MONITORS, *sorted(ROOT.glob("specs/valid/*.yaml"))]
INVALID = sorted(ROOT.glob("specs/invalid/*.yaml"))
SCHEMA = json.loads(json_schema())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

_REFERENCE = "a reference to another part of the spec; JSON Schema cannot follow references"
_TWO_VALUES = "compares two values of the spec; JSON Schema compares a value with constants only"
_NAME_FORMS = (
    "two names that one target turns into the same identifier; JSON Schema cannot compare "
    "names across a mapping, or across two"
)
_FANNED = f"whether the step a reference names fans out: {_REFERENCE}"
_BESIDE = "the specs in the same folder: other files than the one the schema sees"
_NOTEBOOK = "the notebook file beside the spec: another file than the one the schema sees"
_CYCLE = "a dependency cycle; JSON Schema cannot follow references"
_CREDENTIAL = (
    "a literal credential: credentials.py judges a name by its last word and a value by token "
    "shapes (with lookbehind and Python-only syntax); a schema pattern would refuse a different "
    "set of values, so only `mlspec validate` says it"
)
_PEP_508 = (
    "the PEP 508 grammar and mlspec's own refusals (plain-http URLs, pip options) are checked by "
    "the `packaging` library; the schema refuses the shell characters only"
)

_ENV_GATE = (
    "an environment's bound against the spec's gate (its metric, check and bound, a parameter's "
    f"default): {_TWO_VALUES}"
)
_ENV_ACROSS = "what an environment binds against another section of the spec: " + _TWO_VALUES

# The invalid cases the schema accepts, and why it must: the set is exact.
SCHEMA_CANNOT_SAY = {
    "MS273-higher-max-per-column.yaml": _ENV_GATE,
    "MS273-lower-min-than-parameter.yaml": _ENV_GATE,
    "MS274-bound-the-spec-lacks.yaml": _ENV_GATE,
    "MS274-unknown-metric.yaml": _ENV_GATE,
    "MS275-secret-the-spec-does-not-read.yaml": _ENV_ACROSS,
    "MS276-promote-from-cycle.yaml": f"a cycle of environments: {_CYCLE}",
    "MS276-promote-from-unknown.yaml": f"an environment's name in another's: {_TWO_VALUES}",
    "MS277-shared-registered-model.yaml": _ENV_ACROSS,
    "MS278-namespace-without-rollout.yaml": _ENV_ACROSS,
    "MS279-mirror-matches-no-image.yaml": _ENV_ACROSS,
    "MS280-promote-from-without-rollout-rule.yaml": "an environment's promote_from against the "
    f"promotion rules' `after` lists: {_TWO_VALUES}",
    "MS104-failure-limit.yaml": f"failure_limit against count: {_TWO_VALUES}",
    "MS104-min-above-max.yaml": f"min against max: {_TWO_VALUES}",
    "MS104-header-regex.yaml": "a regex that does not compile: JSON Schema has no portable test "
    "(format 'regex' is ECMAScript's dialect, and formats are annotations by default)",
    "MS104-pattern-does-not-compile.yaml": "a check's column pattern that does not compile: "
    "the same as MS104-header-regex.yaml",
    "MS104-unknown-timezone.yaml": "a well-formed but unknown zone: the IANA database changes "
    "with tzdata releases; the schema checks the form only",
    "MS106-notebook-missing.yaml": _NOTEBOOK,
    "MS106-notebook-not-json.yaml": _NOTEBOOK,
    "MS107-notebook-too-large.yaml": _NOTEBOOK,
    "MS201-gate-as-input.yaml": _REFERENCE,
    "MS201-registry-model-typo.yaml": _REFERENCE,
    "MS201-unknown-after.yaml": _REFERENCE,
    "MS201-unknown-output.yaml": _REFERENCE,
    "MS201-unknown-step.yaml": _REFERENCE,
    "MS202-env-param.yaml": _REFERENCE,
    "MS202-unknown-param.yaml": _REFERENCE,
    "MS203-unknown-gate.yaml": _REFERENCE,
    "MS204-unknown-analysis.yaml": _REFERENCE,
    "MS205-bandit-arm-alias.yaml": _REFERENCE,
    "MS205-rollout-alias.yaml": _REFERENCE,
    "MS206-unknown-pipeline.yaml": _BESIDE,
    "MS206-unknown-monitor.yaml": _BESIDE,
    "MS207-watched-spec-has-errors.yaml": _BESIDE,
    "MS210-input-type-mismatch.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS211-metric-not-numeric.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS211-threshold-str-param.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS212-data-gate-on-model.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS213-register-dataset.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS201-serving-unknown-output.yaml": _REFERENCE,
    "MS212-serving-requests-from-model.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS213-serve-a-dataset.yaml": f"the type of what a reference names: {_REFERENCE}",
    "MS220-after-itself.yaml": f"a step's own name in its list: {_TWO_VALUES}",
    "MS220-reads-own-output.yaml": f"a step's own name in its input: {_TWO_VALUES}",
    "MS220-cycle-two-steps.yaml": _CYCLE,
    "MS220-cycle-three-steps.yaml": _CYCLE,
    "MS220-cycle-through-gate.yaml": _CYCLE,
    "MS220-cycle-gate-reads-later-step.yaml": _CYCLE,
    "MS220-cycle-long-form-input.yaml": _CYCLE,
    "MS117-connection-string-keywords.yaml": _CREDENTIAL,
    "MS117-container-argument.yaml": _CREDENTIAL,
    "MS117-db-password.yaml": _CREDENTIAL,
    "MS117-github-token.yaml": _CREDENTIAL,
    "MS117-label-value.yaml": _CREDENTIAL,
    "MS117-param-default-password.yaml": _CREDENTIAL,
    "MS117-password-in-url.yaml": _CREDENTIAL,
    "MS117-short-password-name.yaml": _CREDENTIAL,
    "MS117-tracking-uri-with-password.yaml": _CREDENTIAL,
    "MS121-http-direct-reference.yaml": _PEP_508,
    "MS121-pip-option.yaml": _PEP_508,
    "MS205-vs-alias-no-rule-sets.yaml": f"an alias no promotion rule sets: {_REFERENCE}",
    "MS202-for-each-param-undeclared.yaml": f"a parameter for_each names: {_REFERENCE}",
    "MS228-different-lists.yaml": f"the for_each of the step a reference names: {_REFERENCE}",
    "MS228-loop-waits-for-itself.yaml": _CYCLE,
    "MS229-container-collects.yaml": _FANNED,
    "MS229-per-item-gate-two-loops.yaml": _FANNED,
    "MS229-per-item-gate-vs-alias.yaml": _FANNED,
    "MS229-per-item-serving-gate.yaml": _FANNED,
    "MS234-param-not-a-list.yaml": f"the type of the parameter for_each names: {_REFERENCE}",
    "MS260-test-of-loop-without-item.yaml": f"the for_each of the step a test names: {_REFERENCE}",
    "MS261-test-item-of-wrong-type.yaml": f"the type of a test's loop elements: {_REFERENCE}",
    "MS235-list-param-as-input.yaml": f"the type of the parameter an input names: {_REFERENCE}",
    "MS235-list-param-as-threshold.yaml": f"the type of the parameter a check names: {_REFERENCE}",
    "MS221-bandit-arms.yaml": _NAME_FORMS,
    "MS221-double-underscore.yaml": _NAME_FORMS,
    "MS221-input-and-output.yaml": _NAME_FORMS,
    "MS221-step-and-gate.yaml": _NAME_FORMS,
    "MS224-placeholder-typo.yaml": f"a placeholder naming an undeclared output: {_REFERENCE}",
    "MS224-unknown-query-placeholder.yaml": "a placeholder inside a PromQL query, which the "
    "schema reads as free text",
    "MS231-gate-guards-nothing.yaml": f"a gate that nothing names (a warning): {_REFERENCE}",
    "MS240-duplicate-alias.yaml": "one field repeated across list items; uniqueItems compares "
    "whole items",
    "MS241-canary-weight-falls.yaml": f"each weight against the one before: {_TWO_VALUES}",
    "MS241-canary-weight-repeats.yaml": f"each weight against the one before: {_TWO_VALUES}",
    "MS242-preview-is-active-service.yaml": f"the preview against the service: {_TWO_VALUES}",
    "MS250-canary-query-names-the-service.yaml": "a warning about what a PromQL query selects, "
    "which the schema reads as free text",
    "MS243-rollout-waits-for-promotion.yaml": f"what the promotion of an alias waits for: "
    f"{_REFERENCE}",
    # Step tests name the step, its inputs and outputs, a gate, and files beside the spec.
    "MS260-unknown-step.yaml": _REFERENCE,
    "MS261-no-fixture-for-upstream-input.yaml": _REFERENCE,
    "MS262-unknown-output.yaml": _REFERENCE,
    "MS263-model-gate.yaml": _REFERENCE,
}


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _errors(data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in VALIDATOR.iter_errors(data)]


def _loads(path: Path) -> bool:
    """Whether the case gets past YAML loading (MS0xx cases mostly do not)."""
    try:
        read(path)
    except SpecError:
        return False
    return True


def test_committed_schema_matches_the_models() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == json_schema(), (
        "schemas/mlspec.schema.json is out of date; regenerate it with:\n"
        "    uv run mlspec schema > schemas/mlspec.schema.json"
    )


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_id_names_the_language_version() -> None:
    assert SCHEMA["$id"] == SCHEMA_ID == "https://mlspec.dev/schemas/v1/mlspec.schema.json"
    assert SCHEMA["properties"]["apiVersion"]["const"] == "mlspec/v1"


@pytest.mark.parametrize("path", VALID, ids=_id)
def test_schema_accepts_valid_specs(path: Path) -> None:
    assert _errors(read(path).data) == []


# -- generated valid specs: shorthands, numbers, nulls and edge values -----------------------

_BASE: dict[str, Any] = {
    "apiVersion": "mlspec/v1",
    "kind": "Pipeline",
    "metadata": {"name": "demo", "version": "1.0.0"},
    "steps": {"train": {"python": "demo.steps:train", "outputs": {"model": "model"}}},
}
_CONTAINER = {"container": {"command": ["run", "$${HOME}", "${outputs.model}"]}}


def _with(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(_BASE)
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return spec


GENERATED_VALID = {
    "cpu-integer": _with("steps.train.resources", {"cpu": 2}),
    "cpu-fraction": _with("steps.train.resources", {"cpu": 0.5}),
    "cpu-millicores": _with("defaults.resources", {"cpu": "500m"}),
    "memory-binary": _with("steps.train.resources", {"memory": "512Mi"}),
    "memory-decimal-fraction": _with("steps.train.resources", {"memory": "1.5G"}),
    "empty-optionals": _with("steps.train", {"python": "a.b:c", "container": None, "image": None}),
    "null-sections": {**_BASE, "registry": None, "rollout": None, "schedule": None},
    "soft-keyword-names": _with("steps.match", {"python": "m:f", "outputs": {"type": "int"}}),
    "container-with-default-image": {
        **_with("steps.build", _CONTAINER | {"outputs": {"model": "model"}}),
        "defaults": {"image": "ghcr.io/acme/x:1.0@sha256:" + "0" * 64},
    },
    "credential-name-plain-value": _with(
        "defaults.env", {"MAX_TOKENS": "4096", "USE_TOKEN": "false", "API_TOKEN": ""}
    ),
    "int-default-for-float": _with("params", {"lr": {"type": "float", "default": 1}}),
    "str-param-credential-name-empty": _with(
        "params", {"api_token": {"type": "str", "default": ""}}
    ),
    "cron-names-steps-spaces": _with(
        "schedule", {"cron": "*/15  6-18 * JAN-mar,dec mon-FRI/2", "timezone": "Etc/GMT+2"}
    ),
    "cron-macro": _with("schedule", {"cron": "@daily"}),
    "durations": _with("defaults", {"timeout": "1d12h30m5s", "retries": 20}),
}


@pytest.mark.parametrize("spec", GENERATED_VALID.values(), ids=list(GENERATED_VALID))
def test_schema_accepts_generated_valid_specs(spec: dict[str, Any]) -> None:
    analyze_text(json.dumps(spec), "generated.yaml")  # mlspec accepts it: raises otherwise
    assert _errors(spec) == []


# -- the invalid corpus ------------------------------------------------------------------------

LOADED = [p for p in INVALID if _loads(p)]


@pytest.mark.parametrize("path", LOADED, ids=_id)
def test_schema_rejects_what_it_can_express(path: Path) -> None:
    errors = _errors(read(path).data)
    if path.name in SCHEMA_CANNOT_SAY:
        assert errors == [], f"the schema now rejects it: remove {path.name} from SCHEMA_CANNOT_SAY"
    else:
        assert errors, f"the schema accepts {path.name}"


def test_cases_the_schema_cannot_say_exist_and_load() -> None:
    assert sorted(SCHEMA_CANNOT_SAY) == sorted(
        p.name for p in LOADED if p.name in SCHEMA_CANNOT_SAY
    )
    # Only MS0xx cases stop at loading (MS011, a number out of range, among them); MS010
    # (apiVersion, kind) loads and is rejected.
    stopped = {p.name[:5] for p in INVALID if p not in LOADED}
    assert {code[:3] for code in stopped} == {"MS0"} and "MS010" not in stopped


# -- descriptions and defaults ---------------------------------------------------------------


def _properties() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for model, definition in [("Spec", SCHEMA), *SCHEMA["$defs"].items()]:
        for name, prop in definition.get("properties", {}).items():
            yield model, name, prop


def test_every_model_and_field_has_a_description() -> None:
    missing = [f"{m}.{n}" for m, n, prop in _properties() if not prop.get("description")]
    missing += [m for m, d in SCHEMA["$defs"].items() if not d.get("description")]
    assert missing == []


def test_every_default_satisfies_its_field() -> None:
    wrong = [
        f"{m}.{n}: {prop['default']!r}"
        for m, n, prop in _properties()
        if "default" in prop
        and not jsonschema.Draft202012Validator({**prop, "$defs": SCHEMA["$defs"]}).is_valid(
            prop["default"]
        )
    ]
    assert wrong == []


# -- field types: the schema and the validator agree, value by value -------------------------


def _verdicts(field_type: Any, value: Any) -> tuple[str | None, bool]:
    """The validator's error (None: accepted) and whether the field's schema accepts."""
    adapter = TypeAdapter(field_type, config=ConfigDict(strict=True))
    try:
        adapter.validate_python(value)
        problem = None
    except ValidationError as exc:
        problem = str(exc)
    schema = adapter.json_schema(mode="validation")
    return problem, jsonschema.Draft202012Validator(schema).is_valid(value)


def _text(alphabet: str, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet, max_size=max_size)


_CRON_PART = st.sampled_from(
    ["*", "0", "5", "07", "59", "60", "0-23", "5-1", "*/15", "*/0", "1-5/2", "1,2", "1,,2",
     "jan", "MON-fri", "sun-sat", "dec-jan", "x", "", "7", "8", "31", "32", "1-2-3", "/5"]
)  # fmt: skip

# Each field type with values to try, and which disagreements are the documented exceptions.
AGREEMENT: dict[str, tuple[Any, st.SearchStrategy[Any], Callable[[Any, str], bool]]] = {
    "name": (
        fields.Name,
        st.one_of(_text("abz09_-A<"), _text("ab_", 45), st.sampled_from(keyword.kwlist)),
        lambda v, e: False,
    ),
    "dns label": (fields.DnsName, _text("az09-.A", 70), lambda v, e: False),
    "version": (fields.Version, st.one_of(_text("0189.v"), st.floats()), lambda v, e: False),
    "duration": (fields.Duration, st.one_of(_text("0139dhms "), st.integers()), lambda v, e: False),
    "pause": (fields.Pause, st.one_of(_text("01dhms"), st.just("manual")), lambda v, e: False),
    "cron": (
        fields.Cron,
        st.one_of(
            st.lists(_CRON_PART, min_size=4, max_size=6).map(" ".join),
            st.sampled_from(["@daily", "@DAILY", "@reboot", " 0 3 * * 1 ", "0\t3 * * 1 *"]),
        ),
        # A range that runs backwards (5-1) is the one cron rule a pattern cannot say.
        lambda v, e: "runs backwards" in e,
    ),
    "cpu": (
        fields.Cpu,
        st.one_of(_text("0159.m"), st.floats(), st.integers(), st.booleans()),
        # The schema cannot limit a YAML number to three decimals (multipleOf is inexact).
        lambda v, e: isinstance(v, float) and "invalid cpu quantity" in e,
    ),
    "memory": (fields.Memory, st.one_of(_text("019.KMGie"), st.integers()), lambda v, e: False),
    "python function": (fields.PythonTarget, _text("ab_1.:"), lambda v, e: False),
    "image": (fields.Image, _text("aZ0.:/_-@", 20), lambda v, e: False),
    "alias": (
        fields.Alias,
        st.one_of(_text("lateSTvV09_- "), st.sampled_from(["latest", "LaTeSt", "v12", "v"])),
        lambda v, e: False,
    ),
    "reference": (fields.Reference, _text("ab_1.$ {}"), lambda v, e: False),
    "threshold": (
        fields.Threshold,
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), _text("params.x1Y_ ")),
        lambda v, e: False,
    ),
    "env name": (fields.EnvName, _text("aZ09_-"), lambda v, e: False),
    "secret name": (fields.SecretName, _text("az09-.A"), lambda v, e: False),
    "secret key": (fields.SecretKey, _text("aZ09-._/"), lambda v, e: False),
}


@pytest.mark.parametrize("kind", list(AGREEMENT))
@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_field_schema_agrees_with_its_validator(kind: str, data: st.DataObject) -> None:
    field_type, values, exception = AGREEMENT[kind]
    value = data.draw(values)
    problem, schema_accepts = _verdicts(field_type, value)
    if schema_accepts == (problem is None):
        return
    assert problem is not None and schema_accepts and exception(value, problem), (
        f"{kind} {value!r}: validator {'accepts' if problem is None else 'refuses'}, "
        f"schema {'accepts' if schema_accepts else 'refuses'}"
    )


# -- patterns under ECMAScript ----------------------------------------------------------------

REQUIRE_TOOLS_ENV = "MLSPEC_REQUIRE_TOOLS"

_NODE_MATCH = """
const {patterns, samples} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = patterns.map((p) => {
  let re;
  try { re = new RegExp(p, "u"); } catch (e) { return String(e.message); }
  return samples.map((s) => re.test(s));
});
process.stdout.write(JSON.stringify(out));
"""


def _patterns(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "pattern" and isinstance(item, str):
                yield item
            elif key == "patternProperties":
                yield from item
            yield from _patterns(item)
    elif isinstance(value, list):
        for item in value:
            yield from _patterns(item)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


# Values each pattern is about, besides every key and string of the corpus.
_SAMPLES = [
    "0 3 * * 1", "*/15 6-18 * jan-mar MON-fri", "60 * * * *", "@daily", "v1.0.0", "1.0.0",
    "1h30m", "0s", "90", "2", "0.5", "0.0005", "500m", "0m", "512Mi", "1.5G", "2GB", "latest",
    "V2", "champion", "train", "class", "match", "train-model", "x" * 41, "${inputs.x}",
    "${params.x}", "$${HOME}", "^(?=a)b", "\\1", "DB_PASSWORD", "max_tokens", "4096", "TRUE",
    "postgresql://u:pw@host/db", "ghp_" + "a" * 36, "x-experiment", "Europe/Berlin", "é", "١٢",
]  # fmt: skip


def test_patterns_mean_the_same_in_ecmascript() -> None:
    node = shutil.which("node")
    if node is None:
        message = "`node` is not on PATH: the schema's patterns are checked under ECMAScript"
        if os.environ.get(REQUIRE_TOOLS_ENV):
            pytest.fail(f"{message} ({REQUIRE_TOOLS_ENV} is set)", pytrace=False)
        pytest.skip(message)
    patterns = sorted(set(_patterns(SCHEMA)))
    samples = sorted(
        {s for p in [*VALID, *LOADED] for s in _strings(read(p).data) if "\n" not in s}
        | set(_SAMPLES)
    )
    done = subprocess.run(
        [node, "-e", _NODE_MATCH],
        input=json.dumps({"patterns": patterns, "samples": samples}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    differences = []
    for pattern, verdicts in zip(patterns, json.loads(done.stdout), strict=True):
        if isinstance(verdicts, str):
            differences.append(f"{pattern!r} does not compile: {verdicts}")
            continue
        python = re.compile(pattern)
        differences += [
            f"{pattern!r} on {sample!r}: ECMAScript {js}, Python {not js}"
            for sample, js in zip(samples, verdicts, strict=True)
            if bool(python.search(sample)) != js
        ]
    assert len(patterns) > 20
    assert differences == []


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_examples_carry_the_schema_modeline(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/mlspec.schema.json"
