"""The Prefect deploy's connection settings, checked before any remote call."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlspec.backends.prefect.delivery import git_source
from mlspec.backends.prefect.deployment import WORK_POOL
from mlspec.deploy.common import Request, SettingsError, shown_url, url_secrets


@dataclass(frozen=True)
class Settings:
    api_url: str
    work_pool: str
    flow_dir: Path | None  # None: the workers clone the flow (prefect.yaml's pull steps)

    @property
    def shown_url(self) -> str:
        return shown_url(self.api_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What no message may contain: the URL's credentials and Prefect's API key."""
        found = list(url_secrets(self.api_url))
        with contextlib.suppress(Exception):  # no prefect settings: nothing more to hide
            from prefect.settings import get_current_settings

            api = get_current_settings().api
            for secret in (api.key, api.auth_string):
                found.append(secret.get_secret_value() if secret is not None else "")
        return tuple(s for s in found if s)


def settings_from(request: Request) -> Settings:
    """The connection settings, checked; missing or malformed ones are SettingsErrors."""
    url = (request.settings.get("prefect_api_url") or "").strip()
    if not url:
        raise SettingsError(
            "deploying to Prefect needs the API URL: pass --prefect-api-url or set "
            "PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)"
        )
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise SettingsError(
            f"the Prefect API URL {shown_url(url)!r} is not an http(s) URL "
            "(e.g. http://127.0.0.1:4200/api)"
        )
    pool = request.settings.get("prefect_work_pool") or WORK_POOL
    if git_source(request.pipeline) is not None:  # type: ignore[arg-type]
        return Settings(url.rstrip("/"), pool, None)  # the workers clone the pinned commit
    folder = request.settings.get("prefect_flow_dir")
    if not folder:
        raise SettingsError(
            "deploying to Prefect needs the folder the workers load flows from: pass "
            "--prefect-flow-dir or set MLSPEC_PREFECT_FLOW_DIR (a shared volume or checkout, "
            "at the same path on the workers)"
        )
    flow_dir = Path(folder).expanduser().resolve()
    if not flow_dir.is_dir():
        raise SettingsError(f"the Prefect flow folder {flow_dir} does not exist")
    if not request.dry_run and not os.access(flow_dir, os.W_OK | os.X_OK):
        raise SettingsError(f"the Prefect flow folder {flow_dir} is not writable")
    return Settings(url.rstrip("/"), pool, flow_dir)


def offline_settings(request: Request) -> Settings:
    """The settings an offline plan shows: whatever is given, unchecked."""
    given = request.settings
    url = (given.get("prefect_api_url") or "").strip().rstrip("/")
    folder = given.get("prefect_flow_dir")
    flow_dir = Path(folder).expanduser().resolve() if folder else Path("<flow dir>")
    if git_source(request.pipeline) is not None:  # type: ignore[arg-type]
        return Settings(url, given.get("prefect_work_pool") or WORK_POOL, None)
    return Settings(url, given.get("prefect_work_pool") or WORK_POOL, flow_dir)
