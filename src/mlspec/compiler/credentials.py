"""The credential rule (MS117): which names and values in a spec hold a literal secret.

A secret in a reviewed file is already leaked, so each is an error. A *value* is judged by its
shape wherever it stands: well-known token formats, a password in a URL, a `password=...` pair
in a connection string or an argument. A *name* (of an env variable, a parameter, a label, a
tag, an input, a `--flag`) is judged by its last word, so that DB_PASS and apiKey are
credentials while PASSWORD_FILE, KEYBOARD_LAYOUT, MONKEY and PARTITION_KEY are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from mlspec.compiler.parse import describe_path
from mlspec.compiler.source import PathKey, Source
from mlspec.compiler.spec import EnvValue, Spec
from mlspec.diagnostics import Diagnostic

# The last word of a name that holds a credential.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "credentials",
        "creds",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
    }
)
# KEY is a credential only after one of these words (API_KEY, not PARTITION_KEY or SORT_KEY).
_KEY_KINDS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "encryption",
        "signing",
        "ssh",
        "auth",
        "master",
        "client",
        "license",
        "session",
        "hmac",
    }
)

# Values that a credential-sounding name may hold without being one (MAX_TOKENS: "4096").
_PLAIN = re.compile(r"^(\d+(\.\d+)?|true|false|yes|no|on|off|none|null)$", re.IGNORECASE)
# A value that only refers to a secret held elsewhere: ${X}, $(X) (Kubernetes expands it), $X.
_REFERENCE = re.compile(r"^\$(\{[^}]*\}|\([^)]*\)|[A-Za-z_]\w*)$")

_START = r"(?<![A-Za-z0-9_-])"  # a token starts a word: 'risk-adjusted-...' is no 'sk-' key
_TOKEN_KINDS = (
    ("an AWS access key id", _START + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"),
    ("a GitHub token", _START + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})"),
    ("a Slack token", _START + r"xox[abpors]-[A-Za-z0-9-]{10,}"),
    ("an API key (sk-...)", _START + r"sk-[A-Za-z0-9_-]{20,}"),
    ("a Google API key", _START + r"AIza[0-9A-Za-z_-]{35}"),
    ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*-----|\Z)"),
    ("a JSON web token", _START + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"),
)
# One search per value (a large spec has thousands): group tN is the N-th kind.
_TOKENS = re.compile(
    "|".join(f"(?P<t{i}>{pattern})" for i, (_, pattern) in enumerate(_TOKEN_KINDS))
)
# scheme://user:PASSWORD@host (the user may be empty: redis://:PASSWORD@host).
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@")
# NAME=VALUE in a connection string, a query or an argument: password=x, Pwd=x;, --db-pass=x.
_PAIR = re.compile(r"(?:^|[\s;&?,'\"])-{0,2}([A-Za-z][\w.-]*)\s*=\s*([^\s;&,'\"]+)")
# A whole argument that is a flag, whose next argument is its value: --password VALUE.
FLAG = re.compile(r"^-{1,2}([A-Za-z][\w.-]*)$")


@dataclass(frozen=True)
class Finding:
    kind: str  # what the value holds, e.g. "a password in a URL"
    secret: str  # the secret itself: never shown, the excerpt masks it
    shown: str  # the value with the secret masked, or "" when the value is all secret


def credential_name(name: str) -> bool:
    """Whether the name says that its value is a credential (judged by its last word)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()  # dbPassword -> db_password
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    if not words:
        return False
    if words[-1] in ("key", "keys"):
        return len(words) > 1 and words[-2] in _KEY_KINDS
    return words[-1] in _SECRET_WORDS


def literal_secret(name: str, value: object) -> bool:
    """A credential name with a literal value: not empty, not a plain number or boolean word,
    not a reference to a variable, and not the shell's working folder (PWD=/app)."""
    if not isinstance(value, str) or not value or not credential_name(name):
        return False
    if name == "PWD" and value.startswith("/"):
        return False
    return not (_PLAIN.match(value) or _REFERENCE.match(value))


def find(value: str) -> Finding | None:
    """The first credential-shaped part of a value, if any."""
    match = _TOKENS.search(value)
    if match and match.lastgroup:
        return _finding(_TOKEN_KINDS[int(match.lastgroup[1:])][0], value, match, match.lastgroup)
    for match in _URL_PASSWORD.finditer(value) if "@" in value else ():
        if not _REFERENCE.match(match.group(1)):
            return _finding("a password in a URL", value, match, 1)
    for match in _PAIR.finditer(value) if "=" in value else ():
        if literal_secret(match.group(1), match.group(2)):
            return _finding(f"a literal {match.group(1)}", value, match, 2)
    return None


def _finding(kind: str, value: str, match: re.Match[str], group: int | str) -> Finding:
    start, end = match.span(group)
    shown = value[:start] + "****" + value[end:]
    if "\n" in shown or shown.strip() == "****":  # nothing to show around the secret
        shown = ""
    elif len(shown) > 80:
        shown = shown[:77] + "..."
    return Finding(kind, match.group(group), shown)


# -- the rule applied to a spec ---------------------------------------------------------------

_ENV_HINT = "read it from a Kubernetes secret instead: {secret: {name: S, key: K}}"
_HINT = (
    "never put secrets in a spec: keep them in a Kubernetes secret (or your registry's own "
    "credential store) and reference it"
)


def check(spec: Spec, source: Source) -> list[Diagnostic]:
    """MS117 at every literal secret, pointing at the value; the message never shows it."""
    found: dict[PathKey, Diagnostic] = {}

    def report(path: PathKey, what: str, secret: str) -> None:
        if path not in found:  # one diagnostic per value, the most specific one
            where, hint = _place(path)
            message = f"{where} {what}"
            found[path] = Diagnostic(source.span(path), "MS117", message, hint, redact=secret)

    for path, value in _strings(source.data, ()):
        finding = find(value)
        if finding is not None:
            shown = f": {finding.shown}" if finding.shown else ""
            report(path, f"holds {finding.kind}{shown}", finding.secret)
    for path, name, named in _named(spec, source):
        if literal_secret(name, named):
            report(path, "holds a literal value, and its name says it is a credential", str(named))
    for path, flag, value in _flag_values(spec):
        if literal_secret(flag, value):
            report(path, f"is the literal value of {flag!r}", value)
    return list(found.values())


def _strings(value: object, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))
    elif isinstance(value, str):
        yield path, value


def _named(spec: Spec, source: Source) -> Iterator[tuple[PathKey, str, object]]:
    """Every value that has a name of its own: env, parameter defaults, input constants,
    labels and tags. The path is the value's, as written (`NAME: text` or `{value: text}`)."""

    def at(*path: str | int) -> PathKey:
        return path if source.has(path) else path[:-1]

    envs: list[tuple[PathKey, dict[str, EnvValue]]] = [(("defaults", "env"), spec.defaults.env)]
    envs += [(("steps", s, "env"), step.env) for s, step in spec.steps.items()]
    for base, env in envs:
        for name, entry in env.items():
            yield at(*base, name, "value"), name, entry.value
    for name, param in spec.params.items():
        yield ("params", name, "default"), name, param.default
    for s, step in spec.steps.items():
        for name, binding in step.inputs.items():
            if binding.from_ is None:
                yield at("steps", s, "inputs", name, "value"), name, binding.value
    for key, text in spec.metadata.labels.items():
        yield ("metadata", "labels", key), key, text
    for key, text in (spec.registry.tags if spec.registry else {}).items():
        yield ("registry", "tags", key), key, text


def _flag_values(spec: Spec) -> Iterator[tuple[PathKey, str, str]]:
    """Container arguments that follow a flag of their own: `--password`, `VALUE`."""
    for s, step in spec.steps.items():
        if step.container is None:
            continue
        for part in ("command", "args"):
            texts = getattr(step.container, part)
            for i, (flag, value) in enumerate(pairwise(texts)):
                match = FLAG.match(flag)
                if match:
                    yield ("steps", s, "container", part, i + 1), match.group(1), value


def _place(path: PathKey) -> tuple[str, str]:
    """What holds the value at `path`, for the message, and how to pass a secret there."""
    match path:
        case ("defaults", "env", name, *_):
            return f"env {name} in defaults", _ENV_HINT
        case ("steps", step, "env", name, *_):
            return f"env {name} of step {step!r}", _ENV_HINT
        case ("params", name, *_):
            return f"the default of parameter {name!r}", (
                "pipeline parameters are visible in every run: read secrets from a Kubernetes "
                "secret in a step's env"
            )
        case ("steps", step, "inputs", name, *_):
            return f"input {name!r} of step {step!r}", (
                "constants are compiled into the pipeline: read secrets from a Kubernetes "
                "secret in the step's env"
            )
        case ("steps", step, "container", part, i, *_):
            return f"container {part}[{i}] of step {step!r}", (
                "give the container the secret through its env, {secret: {name: S, key: K}}, "
                "and read the variable there"
            )
        case ("metadata", "labels", key, *_):
            return f"label {key!r}", "labels are public metadata: keep secrets out of them"
        case ("registry", "tags", key, *_):
            return f"registry tag {key!r}", "tags are public metadata: keep secrets out of them"
        case ("registry", "mlflow", "tracking_uri"):
            return describe_path(path), (
                "keep the URI without credentials: MLflow reads MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) from the environment"
            )
    return describe_path(path), _HINT
