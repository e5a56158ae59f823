"""What the sync and async clients share: settings, the retry policy, the model default.

Everything here is free of I/O, so both clients do exactly the same thing and differ only in
how they wait (blocking or awaiting).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from grok_client.config import Settings
from grok_client.errors import GrokError
from grok_client.retry import RetryPolicy

log = logging.getLogger("grok_client")

MODELS_PATH = "/v1/models"
COMPLETIONS_PATH = "/v1/completions"
CHAT_PATH = "/v1/chat/completions"


class BaseClient:
    """Configuration common to `GrokClient` and `AsyncGrokClient` (see `GrokClient`)."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self._settings = Settings.resolve(base_url, api_key, model)
        self._timeout = timeout
        self._retry = RetryPolicy(max_retries=max_retries, backoff=backoff, max_backoff=max_backoff)
        self._discovered_model: str | None = None

    @property
    def base_url(self) -> str:
        """The server root requests go to (without `/v1`)."""
        return self._settings.base_url

    @property
    def model(self) -> str | None:
        """The default model: as configured, else as discovered by the first request (or None)."""
        return self._settings.model or self._discovered_model

    def _http_options(self) -> dict[str, Any]:
        """Arguments for the httpx client: every request gets the base URL, key and timeout."""
        return {
            "base_url": self._settings.base_url,
            "headers": self._settings.headers(),
            "timeout": self._timeout,
        }

    def _backoff(self, retry: int, error: GrokError, what: str) -> float:
        """Seconds to wait before retrying `what` after `error`, logged so retries are visible."""
        delay = self._retry.delay(retry, error)
        log.info(
            "%s failed (%s); retry %d of %d in %.2fs",
            what,
            error,
            retry + 1,
            self._retry.max_retries,
            delay,
        )
        return delay
