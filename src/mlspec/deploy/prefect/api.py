"""Prefect's sync client behind one policy: every call's failure is Transient (retried within a
bounded time) or a DeployError with the server's own answer, never showing a secret."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from mlspec.deploy.common import (
    NO_DEADLINE,
    Deadline,
    DeployError,
    Transient,
    answer_problem,
    is_refused,
    redact,
    retry,
    unexpected_answer,
)
from mlspec.deploy.prefect.settings import Settings

T = TypeVar("T")

# Total time spent retrying one call on transient failures (5xx, timeouts); a refused
# connection is retried for common.REFUSED_SECONDS only.
RETRY_SECONDS = 60.0
# One HTTP request's timeout: a server that accepts connections but never answers is transient.
REQUEST_SECONDS = 15.0


class Api:
    """Prefect's sync client, with every call's failure made Transient or a DeployError."""

    def __init__(self, settings: Settings, deadline: Deadline = NO_DEADLINE) -> None:
        self.settings = settings
        self.deadline = deadline
        self.client: Any = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[None]:
        """A client for this URL only; Prefect's own retries are off, `retry` bounds the time."""
        from prefect.client.orchestration import get_client
        from prefect.settings import (
            PREFECT_API_REQUEST_TIMEOUT,
            PREFECT_API_URL,
            PREFECT_CLIENT_MAX_RETRIES,
            temporary_settings,
        )

        overrides = {
            PREFECT_API_URL: self.settings.api_url,
            PREFECT_CLIENT_MAX_RETRIES: 0,
            PREFECT_API_REQUEST_TIMEOUT: self.deadline.bound(REQUEST_SECONDS),
        }
        with temporary_settings(overrides), get_client(sync_client=True) as client:
            _no_connect_retries(client, self.settings.api_url)
            self.client = client
            try:
                yield
            finally:
                self.client = None

    def call(self, what: str, function: Callable[[Any], T]) -> T:
        """`function(client)`, retried on transient failures; a DeployError says `what` failed."""
        secrets = self.settings.secrets

        def attempt() -> T:
            try:
                return function(self.client)
            except (DeployError, Transient):
                raise
            except Exception as exc:
                classified = _classify(exc, what, self.settings)
                if classified is None:
                    raise  # not the server's doing: a bug, shown with its traceback
                raise classified from None

        try:
            return retry(attempt, what, total_seconds=RETRY_SECONDS, deadline=self.deadline)
        except DeployError as exc:
            raise DeployError(redact(str(exc), *secrets)) from None


def _no_connect_retries(client: Any, url: str) -> None:
    """Turn off the three connection retries Prefect gives httpcore's pool (1.5 s per refused
    call, unreported): `retry` reports each attempt. (Prefect's internals: if they move, its
    own retries stay, and a refused deploy only takes a little longer.)"""
    import httpx

    with contextlib.suppress(AttributeError, TypeError):
        client._client._transport_for_url(httpx.URL(url))._pool._retries = 0


def _classify(exc: Exception, what: str, settings: Settings) -> Exception | None:
    """Transient for what may pass (no connection, timeouts, 5xx, 408, 429), DeployError for
    the server's refusals and malformed answers, None for anything else."""
    import httpx
    import pydantic

    secrets = settings.secrets
    http = getattr(exc, "http_exc", None)  # prefect's ObjectNotFound and friends wrap it
    if isinstance(http, httpx.HTTPStatusError):
        exc = http
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        status = f"{response.status_code} {response.reason_phrase}".strip()
        answer = redact(_answer(response), *secrets)
        if response.status_code >= 500 or response.status_code in (408, 429):
            return Transient(f"{status}: {answer}")
        message = f"{what}: the server answered {status}: {answer}"
        if response.status_code in (401, 403):
            message += (
                " (check PREFECT_API_KEY, PREFECT_API_AUTH_STRING or the credentials in the "
                "API URL)"
            )
        elif response.status_code == 404 and what.startswith("reaching"):
            message += " (is this Prefect's API? Its URL usually ends in /api)"
        return DeployError(message)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DeployError(f"{what}: {redact(str(exc), *secrets)}")
    if isinstance(exc, httpx.TransportError):
        return Transient(redact(f"{type(exc).__name__}: {exc}", *secrets), refused=is_refused(exc))
    if isinstance(exc, pydantic.ValidationError | json.JSONDecodeError):  # e.g. a login page
        problem = redact(answer_problem(exc), *secrets)
        return unexpected_answer(what, f"the Prefect API at {settings.shown_url}", problem)
    if isinstance(exc, httpx.HTTPError):
        return DeployError(f"{what}: {type(exc).__name__}: {redact(str(exc), *secrets)}")
    return None


def _answer(response: Any) -> str:
    """The server's own words: FastAPI's `detail`, Prefect's validation errors, or the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or "(no message)"
    if not isinstance(body, dict):
        return json.dumps(body)[:500]
    detail = body.get("detail", body.get("exception_detail", body.get("exception_message")))
    if isinstance(detail, list):
        return "; ".join(_validation_error(item) for item in detail)
    return str(detail if detail is not None else body)[:500]


def _validation_error(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()))
    return f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item))


def missing_is_none(function: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """A read that answers None for 404 (not found), rather than failing."""
    import httpx

    def read(client: Any) -> T | None:
        try:
            return function(client)
        except Exception as exc:
            http = getattr(exc, "http_exc", exc)
            if isinstance(http, httpx.HTTPStatusError) and http.response.status_code == 404:
                return None
            raise

    return read
