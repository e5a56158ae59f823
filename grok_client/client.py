"""`GrokClient`: the blocking client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from grok_client.base_client import CHAT_PATH, COMPLETIONS_PATH, MODELS_PATH, BaseClient
from grok_client.config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from grok_client.errors import GrokError, raise_for_status, translating_transport_errors
from grok_client.payloads import Messages, Sampling, chat_body, completion_body
from grok_client.sse import iter_events
from grok_client.streams import Stream
from grok_client.types import (
    ChatCompletion,
    Completion,
    Model,
    first_model_id,
    parse_models,
    parse_object,
)

T = TypeVar("T")
Events = Generator[dict[str, Any], None, None]


class GrokClient(BaseClient):
    """Client for an OpenAI-compatible Grok server (Ray Serve LLM / vLLM).

    `base_url` defaults to $GROK_BASE_URL, then http://127.0.0.1:8000; `api_key` to $GROK_API_KEY
    (sent as a Bearer token; none when unset); `model` to $GROK_MODEL, then the first model the
    server lists. `timeout` is seconds or an `httpx.Timeout`. Connection failures, 429 and 503 are
    retried up to `max_retries` times, waiting `backoff` seconds and doubling up to `max_backoff`
    (or as long as the server's Retry-After says). Safe to share between threads.
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
        self._http = httpx.Client(**self._http_options())
        self._model_lock = threading.Lock()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> GrokClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def models(self) -> list[Model]:
        """The models the server serves (`GET /v1/models`)."""
        return parse_models(self._send_json("GET", MODELS_PATH))

    def complete(
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
        """Continue `prompt` (text or token ids). Options left None take the server's defaults;
        `logprobs=N` returns each token's log-probability and its N likeliest alternatives;
        `extra_body` adds server-specific fields (vLLM's `top_k`, `ignore_eos`...)."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = completion_body(
            prompt,
            sampling,
            logprobs=logprobs,
            stream=False,
            include_usage=False,
            extra_body=extra_body,
        )
        body = {"model": self._resolve_model(model), **body}
        return Completion.from_dict(self._send_json("POST", COMPLETIONS_PATH, body))

    def chat(
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
        """Answer a conversation: a list of {"role", "content"} dicts or `ChatMessage`s, or one
        string as a single user message. Options as for `complete`."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = chat_body(
            messages,
            sampling,
            logprobs=logprobs,
            stream=False,
            include_usage=False,
            extra_body=extra_body,
        )
        body = {"model": self._resolve_model(model), **body}
        return ChatCompletion.from_dict(self._send_json("POST", CHAT_PATH, body))

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
    ) -> Stream:
        """`complete`, streamed: iterate the returned `Stream` for chunks as they are generated,
        or call its `text()`. The request is sent when iteration starts. `include_usage` asks
        the server for a final usage chunk (`Stream.usage`)."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = completion_body(
            prompt,
            sampling,
            logprobs=logprobs,
            stream=True,
            include_usage=include_usage,
            extra_body=extra_body,
        )
        return Stream(self._stream_events(COMPLETIONS_PATH, model, body))

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
    ) -> Stream:
        """`chat`, streamed; see `stream_complete`."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed, n)
        body = chat_body(
            messages,
            sampling,
            logprobs=logprobs,
            stream=True,
            include_usage=include_usage,
            extra_body=extra_body,
        )
        return Stream(self._stream_events(CHAT_PATH, model, body))

    def _resolve_model(self, model: str | None) -> str:
        """The request's model: the argument, the client's default, or the server's first model
        (asked once, then remembered)."""
        model = model or self.model
        if model:
            return model
        with self._model_lock:
            if self._discovered_model is None:
                self._discovered_model = first_model_id(self.models())
            return self._discovered_model

    def _send_json(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One JSON request, retried as the policy allows; returns the answer's JSON object."""

        def attempt() -> dict[str, Any]:
            request = self._http.build_request(method, path, json=body)
            with translating_transport_errors(request.url):
                response = self._http.send(request)
            raise_for_status(response)
            return parse_object(response.text, f"response to {method} {path}")

        return self._retrying(attempt, f"{method} {path}")

    def _stream_events(self, path: str, model: str | None, body: dict[str, Any]) -> Events:
        """The events of a streaming request, which is retried only until its first event.

        Once a chunk has reached the caller, sending the request again would repeat text the
        caller has already used, so later failures are raised instead.
        """
        body = {"model": self._resolve_model(model), **body}
        response, events, first = self._retrying(
            lambda: self._open_stream(path, body), f"POST {path}"
        )
        try:
            if first is None:
                return
            yield first
            with translating_transport_errors(response.request.url):
                yield from events
        finally:
            events.close()
            response.close()

    def _open_stream(
        self, path: str, body: dict[str, Any]
    ) -> tuple[httpx.Response, Events, dict[str, Any] | None]:
        """Send a streaming request and read up to its first event (None: an empty stream)."""
        request = self._http.build_request("POST", path, json=body)
        with translating_transport_errors(request.url):
            response = self._http.send(request, stream=True)
            try:
                if not response.is_success:
                    response.read()
                    raise_for_status(response)
                events = iter_events(response.iter_lines())
                return response, events, next(events, None)
            except BaseException:
                response.close()
                raise

    def _retrying(self, attempt: Callable[[], T], what: str) -> T:
        """Run `attempt`, again after each retryable failure, until one try is left: its
        failure is the caller's."""
        for retry in range(self._retry.max_retries):
            try:
                return attempt()
            except GrokError as exc:
                if not self._retry.should_retry(exc):
                    raise
                time.sleep(self._backoff(retry, exc, what))
        return attempt()
