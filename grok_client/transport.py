"""HTTP clients for openai that do not send a generation again after a read timeout.

openai retries every timeout. A read timeout on /v1/completions means the server accepted the
request and may still be generating: sending it again starts the whole generation again (on
eight GPUs) while the first one keeps running. Raising openai's own `APITimeoutError` from the
HTTP client ends openai's retry loop, which passes OpenAIErrors through untouched; connect and
pool timeouts (the request never reached the server) and 408/429/5xx are still retried.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai


class FinalReadTimeoutClient(httpx2.Client):
    """`httpx2.Client` whose read timeouts are final `openai.APITimeoutError`s."""

    def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        try:
            return super().send(request, **kwargs)
        except httpx2.ReadTimeout as exc:
            raise openai.APITimeoutError(request=request) from exc


class FinalReadTimeoutAsyncClient(httpx2.AsyncClient):
    """The asyncio twin of `FinalReadTimeoutClient`."""

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        try:
            return await super().send(request, **kwargs)
        except httpx2.ReadTimeout as exc:
            raise openai.APITimeoutError(request=request) from exc


def http_options(timeout: float | httpx2.Timeout) -> dict[str, Any]:
    """The settings openai gives its own HTTP client, for ours."""
    return {
        "timeout": timeout,
        "limits": openai.DEFAULT_CONNECTION_LIMITS,
        "follow_redirects": True,
    }
