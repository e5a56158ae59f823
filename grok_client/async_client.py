"""`AsyncGrokClient`: the asyncio client, the same API as `GrokClient` with awaits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from grok_client.base_client import CHAT_PATH, COMPLETIONS_PATH, MODELS_PATH, BaseClient
from grok_client.config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from grok_client.errors import GrokError, raise_for_status, translating_transport_errors
from grok_client.payloads import Messages, Sampling, chat_body, completion_body
from grok_client.sse import aiter_events
from grok_client.streams import AsyncStream
from grok_client.types import (
    ChatCompletion,
    Completion,
    Model,
    first_model_id,
    parse_models,
    parse_object,
)

T = TypeVar("T")
AsyncEvents = AsyncGenerator[dict[str, Any], None]


class AsyncGrokClient(BaseClient):
    """The asyncio twin of `GrokClient` (same arguments, same behaviour; see there).

    `stream_complete`/`stream_chat` are plain methods returning an `AsyncStream`, so they go
    straight into `async for` (or `async with`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        super().__init__(base_url, api_key, model, timeout, max_retries, backoff, max_backoff)
        self._http = httpx.AsyncClient(**self._http_options())
        self._model_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncGrokClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def models(self) -> list[Model]:
        """The models the server serves (`GET /v1/models`)."""
        return parse_models(await self._send_json("GET", MODELS_PATH))

    async def complete(
        self,
        prompt: str | Sequence[int],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        logprobs: int | None = None,
        seed: int | None = None,
        n: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Completion:
        """See `GrokClient.complete`."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = completion_body(
            prompt,
            sampling,
            logprobs=logprobs,
            stream=False,
            include_usage=False,
            extra_body=extra_body,
        )
        body = {"model": await self._resolve_model(model), **body}
        return Completion.from_dict(await self._send_json("POST", COMPLETIONS_PATH, body))

    async def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        logprobs: int | None = None,
        seed: int | None = None,
        n: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatCompletion:
        """See `GrokClient.chat`."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = chat_body(
            messages,
            sampling,
            logprobs=logprobs,
            stream=False,
            include_usage=False,
            extra_body=extra_body,
        )
        body = {"model": await self._resolve_model(model), **body}
        return ChatCompletion.from_dict(await self._send_json("POST", CHAT_PATH, body))

    def stream_complete(
        self,
        prompt: str | Sequence[int],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        logprobs: int | None = None,
        seed: int | None = None,
        n: int | None = None,
        include_usage: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncStream:
        """See `GrokClient.stream_complete`."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = completion_body(
            prompt,
            sampling,
            logprobs=logprobs,
            stream=True,
            include_usage=include_usage,
            extra_body=extra_body,
        )
        return AsyncStream(self._stream_events(COMPLETIONS_PATH, model, body))

    def stream_chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        logprobs: int | None = None,
        seed: int | None = None,
        n: int | None = None,
        include_usage: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncStream:
        """See `GrokClient.stream_chat`."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = chat_body(
            messages,
            sampling,
            logprobs=logprobs,
            stream=True,
            include_usage=include_usage,
            extra_body=extra_body,
        )
        return AsyncStream(self._stream_events(CHAT_PATH, model, body))

    async def _resolve_model(self, model: str | None) -> str:
        """See `GrokClient._resolve_model`; concurrent first requests ask the server once."""
        model = model or self.model
        if model:
            return model
        async with self._model_lock:
            if self._discovered_model is None:
                self._discovered_model = first_model_id(await self.models())
            return self._discovered_model

    async def _send_json(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One JSON request, retried as the policy allows; returns the answer's JSON object."""

        async def attempt() -> dict[str, Any]:
            request = self._http.build_request(method, path, json=body)
            with translating_transport_errors(request.url):
                response = await self._http.send(request)
            raise_for_status(response)
            return parse_object(response.text, f"response to {method} {path}")

        return await self._retrying(attempt, f"{method} {path}")

    async def _stream_events(
        self, path: str, model: str | None, body: dict[str, Any]
    ) -> AsyncEvents:
        """See `GrokClient._stream_events`: retried only until the first event."""
        body = {"model": await self._resolve_model(model), **body}
        response, events, first = await self._retrying(
            lambda: self._open_stream(path, body), f"POST {path}"
        )
        try:
            if first is None:
                return
            yield first
            with translating_transport_errors(response.request.url):
                async for event in events:
                    yield event
        finally:
            await events.aclose()
            await response.aclose()

    async def _open_stream(
        self, path: str, body: dict[str, Any]
    ) -> tuple[httpx.Response, AsyncEvents, dict[str, Any] | None]:
        """Send a streaming request and read up to its first event (None: an empty stream)."""
        request = self._http.build_request("POST", path, json=body)
        with translating_transport_errors(request.url):
            response = await self._http.send(request, stream=True)
            try:
                if not response.is_success:
                    await response.aread()
                    raise_for_status(response)
                events = aiter_events(response.aiter_lines())
                return response, events, await anext(events, None)
            except BaseException:
                await response.aclose()
                raise

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """See `GrokClient._retrying`."""
        for retry in range(self._retry.max_retries):
            try:
                return await attempt()
            except GrokError as exc:
                if not self._retry.should_retry(exc):
                    raise
                await asyncio.sleep(self._backoff(retry, exc, what))
        return await attempt()
