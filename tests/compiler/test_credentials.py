"""The credential rule (MS117): what counts as a literal secret, where it is reported, and that
no output of `validate` shows the secret itself. The corpus (specs/invalid/MS117-*) has one
case per place; these cases pin the edges of the name and value patterns."""

from __future__ import annotations

import json

import pytest

from mlspec.compiler import analyze_text
from mlspec.diagnostics import Diagnostic, SpecError, render

SECRET = "hunter2"


def _spec(*, env: str = "", args: str = "[run]", extra: str = "") -> str:
    return (
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: x, version: 1.0.0}\n"
        f"{extra}"
        "steps:\n  a:\n    image: python:3.11\n"
        f"    container: {{command: {args}}}\n"
        "    outputs: {n: int}\n"
        f"    env: {{{env}}}\n"
    )


def _credentials(text: str) -> list[Diagnostic]:
    try:
        analyze_text(text, "s.yaml")
    except SpecError as exc:
        return [d for d in exc.diagnostics if d.code == "MS117"]
    return []


@pytest.mark.parametrize(
    "name",
    ["DB_PASS", "DB_PASSWORD", "API_PWD", "db_passwd", "GITHUB_TOKEN", "dbPassword", "APIKey",
     "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "SIGNING_KEY", "DB_CREDENTIALS", "OAuthToken",
     "SMTP_SECRET", "PASSPHRASE"],
)  # fmt: skip
def test_a_credential_name_with_a_literal_value_is_reported_at_the_value(name: str) -> None:
    text = _spec(env=f"{name}: {SECRET}")
    [found] = _credentials(text)
    line = text.splitlines()[found.span.line - 1]
    assert line[found.span.col - 1 : found.span.end_col - 1] == SECRET
    assert f"env {name} of step 'a'" in found.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEYBOARD_LAYOUT", "de"),
        ("MONKEY", "george"),
        ("PARTITION_KEY", "customer_id"),
        ("SORT_KEY", "created_at"),
        ("TOKENIZER", "bert-base"),
        ("BYPASS", "proxy"),
        ("COMPASS", "north"),
        ("PASSWORD_FILE", "/run/secrets/db"),
        ("SECRET_NAME", "warehouse-creds"),
        ("MAX_TOKENS", "4096"),
        ("DB_PASSWORD", "$(WAREHOUSE_PASSWORD)"),
        ("API_TOKEN", "${API_TOKEN}"),
        ("PWD", "/app"),
        ("DB_PASSWORD", ""),
    ],
)
def test_names_and_values_that_are_not_credentials_pass(name: str, value: str) -> None:
    assert _credentials(_spec(env=f'{name}: "{value}"')) == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("postgres://user:hunter2@db/x", "a password in a URL"),
        ("redis://:hunter2@cache:6379/0", "a password in a URL"),
        ("host=db user=etl password=hunter2", "a literal password"),
        ("Server=db;Uid=etl;Pwd=hunter2;", "a literal Pwd"),
        ("jdbc:postgresql://db/x?user=etl&password=hunter2", "a literal password"),
        ("https://api.example.com/v1?api_key=hunter2", "a literal api_key"),
    ],
)
def test_a_secret_inside_a_connection_string_is_reported_and_masked(value: str, kind: str) -> None:
    [found] = _credentials(_spec(env=f'DSN: "{value}"'))
    assert f"holds {kind}: {value.replace(SECRET, '****')}" in found.message


@pytest.mark.parametrize(
    "value",
    [
        "risk-adjusted-scores-for-2024-v1",  # no 'sk-' API key inside a word
        "https://mlflow.example.com/#/models",
        "postgres://db:5432/events",
        "https://user:${TOKEN}@git.example.com/repo",
        "max_tokens=4096 pass_rate=0.9",
    ],
)
def test_values_that_only_look_close_pass(value: str) -> None:
    assert _credentials(_spec(env=f'SETTING: "{value}"')) == []


def test_every_place_that_names_a_value_is_judged() -> None:
    extra = (
        "params:\n  db_token: {type: str, default: hunter2}\n"
        "registry:\n  mlflow: {registered_model: m}\n  model: b.model\n"
        "  tags: {deploy_token: hunter2}\n"
    )
    text = _spec(extra=extra).replace(
        "    env: {}\n",
        '  b:\n    python: "m:f"\n    inputs: {api_key: {value: hunter2}}\n'
        "    outputs: {model: model}\n",
    )
    found = sorted(d.message for d in _credentials(text))
    assert found == [
        "input 'api_key' of step 'b' holds a literal value, and its name says it is a credential",
        "registry tag 'deploy_token' holds a literal value, and its name says it is a credential",
        "the default of parameter 'db_token' holds a literal value, and its name says it is "
        "a credential",
    ]


@pytest.mark.parametrize(
    ("args", "reported"),
    [
        ("[run, --password, hunter2]", True),
        ("[run, --db-pass=hunter2]", True),
        ('[run, --password, "${inputs.pw}"]', False),
        ("[run, --password-file, /run/secrets/pw]", False),
    ],
)
def test_a_container_argument_after_a_credential_flag(args: str, reported: bool) -> None:
    text = _spec(args=args).replace(
        "    outputs: {n: int}\n", "    outputs: {n: int}\n    inputs: {pw: params.pw}\n"
    )
    text = text.replace("steps:\n", "params:\n  pw: {type: str, default: ''}\nsteps:\n")
    assert bool(_credentials(text)) is reported


def test_no_output_shows_the_secret() -> None:
    text = _spec(
        env=f"DB_PASS: {SECRET}, DSN: 'postgres://etl:{SECRET}@db/x'",
        args=f"[run, --password, {SECRET}]",
    )
    found = _credentials(text)
    assert len(found) == 3
    for fmt in ("text", "json", "github"):
        shown = render(found, fmt, {"s.yaml": text})  # type: ignore[arg-type]
        assert SECRET not in shown, fmt
    excerpt = render(found, "text", {"s.yaml": text})
    assert "DB_PASS: *******, DSN: 'postgres://etl:*******@db/x'" in excerpt
    at = [(d["line"], d["column"]) for d in json.loads(render(found, "json", {}))]
    assert at == [(7, 44), (9, 20), (9, 34)]  # each at its value
