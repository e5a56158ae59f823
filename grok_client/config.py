"""Where a client's settings come from: its arguments first, then the environment, then defaults.

The environment fallbacks let one script, test suite or shell session point at any deployment
(a laptop, a Ray cluster behind a proxy) without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from grok_client.errors import GrokError

API_KEY_ENV = "GROK_API_KEY"
BASE_URL_ENV = "GROK_BASE_URL"
MODEL_ENV = "GROK_MODEL"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Connecting is fast or not happening at all; a long completion can keep the server silent for
# a while before its first byte (and between stream chunks under load).
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings a client was built with."""

    base_url: str
    api_key: str | None
    model: str | None

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, model: str | None) -> Settings:
        """Fill what the caller left out from GROK_BASE_URL, GROK_API_KEY and GROK_MODEL."""
        return cls(
            base_url=normalize_base_url(base_url or _env(BASE_URL_ENV) or DEFAULT_BASE_URL),
            api_key=api_key or _env(API_KEY_ENV),
            model=model or _env(MODEL_ENV),
        )

    def headers(self) -> dict[str, str]:
        """Headers every request carries; no Authorization at all when there is no key."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def normalize_base_url(url: str) -> str:
    """The server root the SDK appends `/v1/...` to.

    A trailing `/v1` is dropped, since that is how OpenAI tools spell base URLs and people paste
    them here. A URL without http(s) scheme is refused now rather than failing on every request.
    """
    url = url.strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise GrokError(f"base URL must start with http:// or https://, got {url!r}")
    return url.removesuffix("/v1")


def _env(name: str) -> str | None:
    """An environment variable, with set-but-empty meaning unset."""
    return os.environ.get(name) or None
