"""Scalar field types of the spec: names, versions, durations, cron, quantities, references.

Each type validates one kind of value and raises a `PydanticCustomError` whose type names the
diagnostic code (see `codes.py`) and whose context may carry a `hint`. Each also declares its
JSON Schema (`mlspec schema`), built from the same pattern the validator matches, so that an
editor and `mlspec validate` agree. Patterns are written in the syntax that Python's `re` and
ECMAScript (ajv, yaml-language-server) share: `[0-9]`, not `\\d`; no inline flags.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from mlspec.compiler.schema_rules import ignore_case

# Names of steps, outputs, inputs, params, gates, analyses, arms: safe as Python identifiers,
# Airflow task ids, Prefect task names and (after `_` -> `-`) KFP and Kubernetes names.
_NAME = r"[a-z][a-z0-9_]*"
NAME_RE = re.compile(rf"^{_NAME}$")
NAME_MAX = 40
# Python keywords a lower-case name could spell (soft keywords are legal keyword arguments).
_KEYWORDS = "|".join(k for k in keyword.kwlist if k.islower())
NAME_PATTERN = rf"^(?!(?:{_KEYWORDS})$){_NAME}$"
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
PYTHON_TARGET_RE = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_ALIAS = r"[A-Za-z0-9_-]{1,255}"
ALIAS_RE = re.compile(rf"^{_ALIAS}$")
# MLflow refuses 'latest' (any case) and 'v<digits>' as aliases.
_RESERVED_ALIAS = r"[lL][aA][tT][eE][sS][tT]|[vV][0-9]+"
RESERVED_ALIAS_RE = re.compile(rf"^(?:{_RESERVED_ALIAS})$")
ALIAS_PATTERN = rf"^(?!(?:{_RESERVED_ALIAS})$){_ALIAS}$"
REGISTERED_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$")
REFERENCE_RE = re.compile(rf"^({_NAME})\.({_NAME})$")
PARAM_REFERENCE_RE = re.compile(rf"^params\.{_NAME}$")
# An image reference: [host[:port]/]path[:tag][@digest], as the distribution spec defines it.
_IMAGE_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_IMAGE_PATH}(?:/{_IMAGE_PATH})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
# Lookahead: some digit is not 0, so the value is above zero.
_NOT_ZERO = r"(?=[^1-9]*[1-9])"
_DURATION = r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?"
_DURATION_RE = re.compile(rf"^{_DURATION}$")
DURATION_PATTERN = rf"^{_NOT_ZERO}{_DURATION}$"
CPU_RE = re.compile(rf"^{_NOT_ZERO}(?:[0-9]+(?:\.[0-9]{{1,3}})?|[0-9]+m)$")
_MEMORY_UNITS = "Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E"
_MEMORY_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_MEMORY_RE = re.compile(rf"^({_MEMORY_NUMBER})({_MEMORY_UNITS})?$")
MEMORY_PATTERN = rf"^{_NOT_ZERO}{_MEMORY_NUMBER}(?:{_MEMORY_UNITS})$"
# Placeholders of container commands: `${inputs.x}`, `${outputs.y}`; `$${` is a literal `${`.
PLACEHOLDER_RE = re.compile(r"(?<!\$)\$\{([^}]*)\}")
PLACEHOLDER_OK = re.compile(rf"(inputs|outputs)\.({_NAME})")
# A `${...}` that is not one of them: for the schema, which can only match text.
MALFORMED_PLACEHOLDER_PATTERN = rf"(?<!\$)\$\{{(?!{PLACEHOLDER_OK.pattern}\}})[^}}]*\}}"
TIMEZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")
TIMEZONE_MAX = 64

RESERVED_PREFIXES = ("mlspec_", "promote_")
# Step and gate names that read as keywords: `params.x` references, `rollout` in `after`.
RESERVED_NAMES = ("params", "rollout")


def error(
    code: str, message: str, hint: str | None = None, at: str | tuple[str, ...] | None = None
) -> Exception:
    """A validation error that `parse.py` turns into diagnostic `code`, at sub-field `at`."""
    ctx: dict[str, Any] = {"message": message}
    if hint:
        ctx["hint"] = hint
    if at:
        ctx["at"] = (at,) if isinstance(at, str) else at
    # The message travels in the context: pydantic would read braces in a template.
    return PydanticCustomError(code, "{message}", ctx)


def _validator(schema: dict[str, Any]) -> Callable[[Callable[[Any], Any]], Any]:
    """Wrap a check function as a field type whose JSON Schema is `schema`."""

    def wrap(func: Callable[[Any], Any]) -> Any:
        return BeforeValidator(func, json_schema_input_type=Annotated[Any, WithJsonSchema(schema)])

    return wrap


def _string(pattern: str, **more: Any) -> dict[str, Any]:
    # Python's `$` (check-jsonschema) also matches before a final line break, ECMAScript's does
    # not; the lookahead makes both refuse "name\n", as the validators' fullmatch does.
    if pattern.endswith("$"):
        pattern += r"(?!\n)"
    return {"type": "string", "pattern": pattern, **more}


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise error(
            "MS103",
            f"{what} must be a string, not {type_name(value)}",
            f'quote it: "{value}"' if isinstance(value, int | float) else None,
        )
    return value


def type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }.get(type(value), "a value")


@_validator(_string(NAME_PATTERN, maxLength=NAME_MAX))
def _check_name(value: object) -> str:
    value = _require_str(value, "a name")
    if value == "<<":
        raise error(
            "MS110",
            "'<<' is not a name: YAML merge keys are YAML 1.1, and mlspec reads YAML 1.2",
            "use `defaults:` for settings shared by steps",
        )
    if not NAME_RE.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_")
        if suggestion and not suggestion[0].isalpha():
            suggestion = "x_" + suggestion
        raise error(
            "MS110",
            f"invalid name {value!r}: names are lower-case letters, digits "
            "and '_', starting with a letter",
            f"use {suggestion!r}" if suggestion else None,
        )
    if len(value) > NAME_MAX:
        raise error(
            "MS110",
            f"name {value!r} is {len(value)} characters; the limit is {NAME_MAX}",
            "Kubernetes and KFP derive pod and task names from it",
        )
    if keyword.iskeyword(value):
        raise error(
            "MS110",
            f"name {value!r} is a Python keyword",
            f"the generated code passes it as a keyword argument; use '{value}_'",
        )
    return value


Name = Annotated[str, _check_name]


def _dns_label(what: str) -> Any:
    """A DNS-1123 label type whose errors name what it labels."""

    @_validator(_string(DNS_LABEL_RE.pattern, maxLength=63))
    def check(value: object) -> str:
        value = _require_str(value, what)
        if len(value) > 63 or not DNS_LABEL_RE.fullmatch(value):
            suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63]
            raise error(
                "MS111",
                f"invalid {what} {value!r}: it must be a DNS-1123 label "
                "(lower-case letters, digits and '-', at most 63 characters)",
                f"use {suggestion!r}" if suggestion else None,
            )
        return value

    return Annotated[str, check]


DnsName = _dns_label("pipeline name")
ServiceName = _dns_label("service name")
Namespace = _dns_label("namespace")


@_validator(_string(VERSION_RE.pattern))
def _check_version(value: object) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise error(
            "MS112",
            f"version {value!r} was read as a number",
            'write all three parts, quoted: "1.0.0" (MAJOR.MINOR.PIPELINE)',
        )
    value = _require_str(value, "the version")
    if not VERSION_RE.fullmatch(value):
        raise error(
            "MS112",
            f"invalid version {value!r}: it must be MAJOR.MINOR.PIPELINE",
            "MAJOR: data or target incompatible; MINOR: model improved; "
            "PIPELINE: pipeline changed; e.g. 1.4.0",
        )
    return value


Version = Annotated[str, _check_version]


def parse_duration(value: object) -> int:
    """'1h30m' -> 5400 seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise error(
            "MS113", f"duration {value!r} has no unit", f"write e.g. '{value}s' or '{value}m'"
        )
    value = _require_str(value, "a duration")
    match = _DURATION_RE.fullmatch(value)
    if not value or not match:
        raise error(
            "MS113",
            f"invalid duration {value!r}",
            "use a number with a unit, largest first: 30s, 10m, 1h30m, 2d",
        )
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def show_duration(seconds: int) -> str:
    """The inverse of parse_duration in the largest whole unit: 600 -> '10m', 90 -> '90s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def positive_duration(value: object) -> int:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise error("MS113", f"duration {value!r} is zero", "a duration must be longer than 0s")
    return seconds


_DURATION_SCHEMA = _string(DURATION_PATTERN)
Duration = Annotated[int, _validator(_DURATION_SCHEMA)(positive_duration)]
# A canary pause: a duration, or 'manual' to wait for a person to promote.
Pause = Annotated[
    int | Literal["manual"],
    _validator({"anyOf": [_DURATION_SCHEMA, {"const": "manual"}]})(
        lambda value: value if value == "manual" else positive_duration(value)
    ),
]


# Cron: five fields, as Kubernetes CronJobs, Airflow and Prefect accept them.
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(
                ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            )
        },
    ),
    (
        "day of week",
        0,
        7,
        {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
    ),
)
_CRON_MACROS = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
_DIGITS = re.compile(r"[0-9]+")


def _number_pattern(low: int, high: int) -> str:
    """Whole numbers low..high (low below 10, high below 100), leading zeros allowed, as `int()`
    reads them."""

    def digits(first: int, last: int) -> str:
        return str(first) if first == last else f"[{first}-{last}]"

    low_ten, high_ten = low // 10, high // 10
    if low_ten == high_ten:
        parts = [digits(low % 10, high % 10)]
    else:
        parts = [digits(low % 10, 9)]
        if high % 10 == 9:
            high_ten += 1
        if high_ten > low_ten + 1:
            parts.append(digits(low_ten + 1, high_ten - 1) + "[0-9]")
        if high % 10 != 9:
            parts.append(f"{high_ten}{digits(0, high % 10)}")
    return f"0*(?:{'|'.join(parts)})"


def _cron_pattern() -> str:
    """The cron syntax `_check_cron` accepts, with each field's range; ranges that run
    backwards ('5-1') are the one rule it cannot say."""
    fields = []
    for _, low, high, names in _CRON_FIELDS:
        bound = _number_pattern(low, high)
        if names:
            bound = f"(?:{bound}|{ignore_case('|'.join(names))})"
        item = rf"(?:\*|{bound}(?:-{bound})?)(?:/0*[1-9][0-9]*)?"
        fields.append(f"{item}(?:,{item})*")
    macros = "|".join(sorted(_CRON_MACROS))
    separated = r"\s+".join(fields)
    return rf"^(?:{macros}|\s*{separated}\s*)$"


@_validator(_string(_cron_pattern()))
def _check_cron(value: object) -> str:
    value = _require_str(value, "a cron expression")
    if value in _CRON_MACROS:
        return value
    parts = value.split()
    if len(parts) != 5:
        raise error(
            "MS114",
            f"cron expression {value!r} has {len(parts)} fields; it needs 5",
            "minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'",
        )
    for part, (what, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
        problem = _cron_field_problem(part, low, high, names)
        if problem:
            raise error(
                "MS114",
                f"cron expression {value!r}: {what} field {part!r} {problem}",
                f"{what} takes {low}-{high}, '*', lists (1,5), ranges (1-5) and steps (*/15)",
            )
    return value


def _cron_field_problem(part: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for item in part.split(","):
        base, _, step = item.partition("/")
        if step and (not _DIGITS.fullmatch(step) or int(step) == 0):
            return "has an invalid step"
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2:
            return "has an invalid range"
        numbers = []
        for bound in bounds:
            number = int(bound) if _DIGITS.fullmatch(bound) else names.get(bound.lower())
            if number is None:
                return "is not a number"
            if not low <= number <= high:
                return f"is out of range {low}-{high}"
            numbers.append(number)
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            return "has a range that runs backwards"
    return None


Cron = Annotated[str, _check_cron]


# A YAML number is read as cores. The schema cannot limit a number to three decimals.
@_validator({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, _string(CPU_RE.pattern)]})
def _check_cpu(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    value = _require_str(value, "cpu")
    if not CPU_RE.fullmatch(value):
        raise error(
            "MS115",
            f"invalid cpu quantity {value!r}",
            "use cores ('1', '0.5') or millicores ('500m')",
        )
    return value


Cpu = Annotated[str, _check_cpu]


@_validator(_string(MEMORY_PATTERN))
def _check_memory(value: object) -> str:
    if isinstance(value, float):
        raise error("MS115", f"memory {value} has no unit", f"write e.g. '{value}Gi'")
    if isinstance(value, int) and not isinstance(value, bool):
        raise error(
            "MS115",
            f"memory {value} is a bare number of bytes",
            f"write a unit, e.g. '{value}Mi'",
        )
    value = _require_str(value, "memory")
    match = _MEMORY_RE.fullmatch(value)
    if not match or float(match.group(1)) == 0:
        raise error(
            "MS115",
            f"invalid memory quantity {value!r}",
            "use a number and a binary unit: '512Mi', '2Gi'",
        )
    if not match.group(2):
        raise error(
            "MS115",
            f"memory {value!r} is a bare number of bytes",
            f"write a unit, e.g. '{value}Mi'",
        )
    return value


Memory = Annotated[str, _check_memory]

_MEMORY_FACTORS = {
    **{u: 2 ** (10 * (i + 1)) for i, u in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{u: 10 ** (3 * (i + 1)) for i, u in enumerate(("k", "M", "G", "T", "P", "E"))},
}


def memory_bytes(value: str) -> int:
    """A checked memory quantity in bytes, rounded up: '1Gi' -> 1073741824."""
    suffix = value.lstrip("0123456789.")
    number = Decimal(value[: len(value) - len(suffix)]) * _MEMORY_FACTORS.get(suffix, 1)
    return int(number.to_integral_value(rounding="ROUND_CEILING"))


@_validator(_string(PYTHON_TARGET_RE.pattern))
def _check_python_target(value: object) -> str:
    value = _require_str(value, "a Python step")
    if not PYTHON_TARGET_RE.fullmatch(value):
        hint = "write module:function, e.g. 'fraud.steps:train'"
        if ":" not in value and "." in value:
            module, _, func = value.rpartition(".")
            hint = f"separate the function with ':': '{module}:{func}'"
        raise error("MS116", f"invalid Python function {value!r}", hint)
    return value


PythonTarget = Annotated[str, _check_python_target]


@_validator(_string(IMAGE_RE.pattern))
def _check_image(value: object) -> str:
    value = _require_str(value, "an image")
    if not IMAGE_RE.fullmatch(value):
        raise error(
            "MS119",
            f"invalid image reference {value!r}",
            "use [registry/]repository[:tag][@sha256:digest], e.g. 'ghcr.io/acme/trainer:1.4.0'",
        )
    return value


Image = Annotated[str, _check_image]

_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


@_validator(_string(_COMMIT_RE.pattern))
def _check_commit(value: object) -> str:
    value = _require_str(value, "a git commit")
    if not _COMMIT_RE.fullmatch(value):
        raise error(
            "MS122",
            f"{value!r} is not a full git commit id",
            "pin the full 40-character lowercase hex id (`git rev-parse HEAD`); branches and "
            "tags move, so they pin nothing",
        )
    return value


Commit = Annotated[str, _check_commit]

# Where Kubeflow components download the step package's wheel from. Plain http would let anyone
# on the path swap the code, and credentials in a URL would end up in the compiled files.
_WHEEL_URL_SCHEMES = ("https", "file")


@_validator(_string(r"^(https|file)://"))
def _check_wheels_url(value: object) -> str:
    value = _require_str(value, "a wheel location")
    parts = urlsplit(value)
    hint = (
        "an https:// URL of the folder your CI publishes `mlspec build` wheels to (e.g. "
        "'https://wheels.acme.internal/ml'), or file:///PATH for a folder every worker mounts"
    )
    if parts.scheme not in _WHEEL_URL_SCHEMES or _REQUIREMENT_UNSAFE.search(value):
        raise error("MS104", f"invalid wheel location {value!r}", hint)
    if parts.scheme == "https" and (not parts.hostname or "@" in parts.netloc):
        raise error("MS104", f"invalid wheel location {value!r}: a host, no credentials", hint)
    if parts.query or parts.fragment or any(c.isspace() for c in value):
        raise error("MS104", f"invalid wheel location {value!r}: no query or fragment", hint)
    return value.rstrip("/")


WheelsUrl = Annotated[str, _check_wheels_url]


@_validator(_string(r"^(https://|file://|/)"))
def _check_git_url(value: object) -> str:
    value = _require_str(value, "a git repository")
    parts = urlsplit(value)
    if (
        parts.scheme not in ("https", "file", "")
        or (parts.scheme == "" and not value.startswith("/"))
        or "@" in parts.netloc
        or _REQUIREMENT_UNSAFE.search(value)
        or any(c.isspace() for c in value)
    ):
        raise error(
            "MS104",
            f"invalid git repository {value!r}",
            "an https:// URL without credentials (workers authenticate with their own "
            "credentials), or an absolute path / file:// URL of a repository the workers see",
        )
    return value


GitUrl = Annotated[str, _check_git_url]


_REPO_PATH_RE = re.compile(r"\.|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


@_validator(_string(_REPO_PATH_RE.pattern))
def _check_repo_path(value: object) -> str:
    value = _require_str(value, "a relative folder")
    parts = value.split("/")
    if not _REPO_PATH_RE.fullmatch(value) or (value != "." and ({".", ".."} & set(parts))):
        raise error(
            "MS104",
            f"invalid folder {value!r}",
            "a relative folder with '/' between parts, inside the repository: e.g. 'src' or "
            "'pipelines/fraud' ('.' for the folder itself; no '..', no leading '/')",
        )
    return value


RepoPath = Annotated[str, _check_repo_path]


_DATA_PATH_RE = re.compile(r"/[^\x00-\x1f\x7f{}]*")


@_validator(_string(_DATA_PATH_RE.pattern))
def _check_data_path(value: object) -> str:
    value = _require_str(value, "a data path")
    if "://" in value:
        raise error(
            "MS104",
            f"{value!r} is an object-store or URL location",
            "watching an object store needs its client on every worker: mount it and give the "
            "mounted path, or start runs from the store's own event notifications "
            "(mlspec deploy --run)",
        )
    if not _DATA_PATH_RE.fullmatch(value) or "/../" in f"{value}/":
        raise error(
            "MS104",
            f"invalid data path {value!r}",
            "an absolute path without '..', braces or control characters, e.g. "
            "/data/incoming/fraud",
        )
    return value.rstrip("/") or "/"


DataPath = Annotated[str, _check_data_path]

# kfp hands each requirement to pip as `repr(requirement)` inside `sh -c`: a single-quoted shell
# word only while the text has no `'` (else repr switches to double quotes, where `$` and "`"
# run commands); repr doubles `\` and escapes other characters. PEP 508 allows all of these in
# markers and URLs; real requirements need none of them, so they are refused on every target.
_REQUIREMENT_UNSAFE = re.compile(r"[^\x20-\x7e]|['\\`$]")
# Direct references (`name @ URL`) fetched over TLS, from where the step runs.
_DIRECT_URL_SCHEMES = ("https", "git+https")
_REQUIREMENT_EXAMPLE = "e.g. 'scikit-learn>=1.5' or 'pandas[parquet]==2.2.2'"
_MARKER_QUOTES_HINT = (
    """write an environment marker's strings in double quotes: 'pkg; os_name == "nt"'"""
)


# What the schema can say of a requirement: printable ASCII without the characters that are
# refused even where PEP 508 allows them (' \ ` $); the PEP 508 grammar itself is the check's.
_REQUIREMENT_TEXT = r"^[ -#%&(-\[\]-_a-~]+$"


@_validator(
    _string(_REQUIREMENT_TEXT, description="A PEP 508 requirement, e.g. scikit-learn>=1.5.")
)
def _check_requirement(value: object) -> str:
    # Imported here: ~30 ms that specs without packages never need.
    from packaging.requirements import InvalidRequirement, Requirement

    value = _require_str(value, "a package requirement")
    unsafe = _REQUIREMENT_UNSAFE.search(value)
    if unsafe:
        in_marker = unsafe.group() == "'" and ";" in value
        raise error(
            "MS121",
            f"package requirement {value!r} contains {unsafe.group()!r}, which pip's command "
            "line in the generated pipeline would not keep as text",
            _MARKER_QUOTES_HINT
            if in_marker
            else f"write a plain PEP 508 requirement, {_REQUIREMENT_EXAMPLE}",
        )
    try:
        requirement = Requirement(value)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise error(
            "MS121",
            f"{value!r} is not a PEP 508 package requirement: {reason}",
            "pip options are not allowed here; write a requirement, " + _REQUIREMENT_EXAMPLE
            if value.lstrip().startswith("-")
            else f"write a requirement, {_REQUIREMENT_EXAMPLE}",
        ) from None
    if requirement.url is not None and not _plain_https(requirement.url):
        raise error(
            "MS121",
            f"package requirement {value!r} installs from {requirement.url!r}: direct "
            "references must be https:// (or git+https://) URLs with a host and no credentials",
            "publish the package to an index and pin its version, put it in the step's "
            "image, or use an https URL; credentials belong in the image's pip "
            "configuration, never in a spec",
        )
    return value


def _plain_https(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    return parts.scheme in _DIRECT_URL_SCHEMES and bool(parts.hostname) and "@" not in parts.netloc


Requirement = Annotated[str, _check_requirement]


@_validator(_string(ALIAS_PATTERN))
def _check_alias(value: object) -> str:
    value = _require_str(value, "an alias")
    if not ALIAS_RE.fullmatch(value):
        raise error(
            "MS118", f"invalid registry alias {value!r}", "aliases use letters, digits, '_' and '-'"
        )
    if RESERVED_ALIAS_RE.fullmatch(value):
        raise error(
            "MS118",
            f"{value!r} is reserved by the MLflow registry",
            "MLflow rejects 'latest' and 'v<digits>' as aliases; use e.g. 'champion'",
        )
    return value


Alias = Annotated[str, _check_alias]


@_validator(_string(REGISTERED_MODEL_RE.pattern))
def _check_registered_model(value: object) -> str:
    value = _require_str(value, "a registered model name")
    if not REGISTERED_MODEL_RE.fullmatch(value):
        raise error(
            "MS104",
            f"invalid registered model name {value!r}",
            "use letters, digits, '.', '_' and '-'",
        )
    return value


RegisteredModel = Annotated[str, _check_registered_model]


@_validator(_string(REFERENCE_RE.pattern))
def _check_reference(value: object) -> str:
    value = _require_str(value, "a reference")
    if not REFERENCE_RE.fullmatch(value):
        bare = value.strip("${} ")
        if value != bare and REFERENCE_RE.fullmatch(bare):
            raise error("MS120", f"{value!r} is not a reference", f"write it bare: {bare}")
        raise error(
            "MS120",
            f"{value!r} is not a reference",
            "references are 'step.output' or 'params.name'; a constant is written {value: ...}",
        )
    return value


Reference = Annotated[str, _check_reference]


@_validator({"anyOf": [{"type": "number"}, _string(PARAM_REFERENCE_RE.pattern)]})
def _check_threshold(value: object) -> float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise error(
            "MS103", f"a threshold must be a number or 'params.NAME', not {type_name(value)}"
        )
    if isinstance(value, str):
        if not PARAM_REFERENCE_RE.fullmatch(value):
            raise error(
                "MS120",
                f"threshold {value!r} is neither a number nor a parameter",
                "write a number, or 'params.NAME' to use a pipeline parameter",
            )
        return value
    if isinstance(value, int) and abs(value) > 2**53:
        raise error("MS104", f"threshold {value} is too large to compare exactly")
    if value != value or value in (math.inf, -math.inf):
        raise error("MS104", f"threshold {value} is not a finite number")
    return float(value)


Threshold = Annotated[Any, _check_threshold]


@_validator({"type": "number"})
def _check_rollout_threshold(value: object) -> float:
    if isinstance(value, str) and value.startswith("params."):
        raise error(
            "MS103",
            f"rollout analysis thresholds are numbers, not {value!r}",
            "rollout manifests are applied outside any pipeline run, where no parameter has a "
            "value: write the number",
        )
    number = _check_threshold.func(value)
    assert isinstance(number, float)  # its only strings are parameters, refused above
    return number


RolloutThreshold = Annotated[float, _check_rollout_threshold]


@_validator(_string(ENV_NAME_RE.pattern))
def _check_env_name(value: object) -> str:
    value = _require_str(value, "an environment variable name")
    if not ENV_NAME_RE.fullmatch(value):
        raise error(
            "MS110",
            f"invalid environment variable name {value!r}",
            "use letters, digits and '_', not starting with a digit",
        )
    return value


EnvName = Annotated[str, _check_env_name]


@_validator(_string(SECRET_NAME_RE.pattern, maxLength=253))
def _check_secret_name(value: object) -> str:
    value = _require_str(value, "a secret name")
    if len(value) > 253 or not SECRET_NAME_RE.fullmatch(value):
        raise error(
            "MS111",
            f"invalid Kubernetes secret name {value!r}",
            "use lower-case letters, digits, '-' and '.'",
        )
    return value


SecretName = Annotated[str, _check_secret_name]


@_validator(_string(SECRET_KEY_RE.pattern))
def _check_secret_key(value: object) -> str:
    value = _require_str(value, "a secret key")
    if not SECRET_KEY_RE.fullmatch(value):
        raise error("MS104", f"invalid secret key {value!r}", "use letters, digits, '-', '_', '.'")
    return value


SecretKey = Annotated[str, _check_secret_key]


# A notebook step's file: relative to the spec, inside the repository, any printable name
# (quotes and spaces too: it stays text on every target), ending in .ipynb; no empty, '.' or
# '..' part.
_NOTEBOOK_PATH_RE = re.compile(r"(?!/)(?!(.*/)?\.{1,2}/)(?!.*//)[^\x00-\x1f\x7f\\]*\.ipynb")


@_validator(_string(f"^{_NOTEBOOK_PATH_RE.pattern}$"))
def _check_notebook_path(value: object) -> str:
    value = _require_str(value, "a notebook file")
    if not _NOTEBOOK_PATH_RE.fullmatch(value):
        raise error(
            "MS104",
            f"invalid notebook path {value!r}",
            "a .ipynb file relative to the spec, with '/' between parts, inside the "
            "repository: e.g. notebooks/train.ipynb (no '..', no leading '/')",
        )
    return value


NotebookPath = Annotated[str, _check_notebook_path]
