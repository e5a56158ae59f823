"""`GrokClient` and `AsyncGrokClient`: openai's clients, pointed at a Grok deployment.

Everything HTTP (retries with backoff and Retry-After on 408/429/5xx, typed errors, SSE) is
openai's; what is added is Grok-specific: settings from GROK_*/OPENAI_*, the deployment's model
found by asking it, the chat stop, text streams, and no resend after a read timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, Unpack

import httpx2
import openai
from openai.types import Completion, Model
from openai.types.chat import ChatCompletion

from grok_client.params import Messages, Params, chat_args, completion_args, streaming
from grok_client.settings import Settings
from grok_client.streams import AsyncTextStream, TextStream
from grok_client.transport import (
    FinalReadTimeoutAsyncClient,
    FinalReadTimeoutClient,
    http_options,
)

# Sent when no key is configured: openai insists on one, and a server without auth ignores it.
NO_KEY = "none"


class _Base:
    """Settings and model choice shared by both clients (no I/O here)."""

    def __init__(self, base_url: str | None, api_key: str | None, model: str | None) -> None:
        self.settings = Settings.resolve(base_url, api_key, model)
        self._discovered: str | None = None

    @property
    def model(self) -> str | None:
        """The default model: as configured, else as discovered by the first request."""
        return self.settings.model or self._discovered

    def _openai_options(self, timeout: float | httpx2.Timeout, max_retries: int) -> dict[str, Any]:
        return {
            "base_url": self.settings.openai_base_url,
            "api_key": self.settings.api_key or NO_KEY,
            "timeout": timeout,
            "max_retries": max_retries,
        }

    @staticmethod
    def _only_model(models: list[Model]) -> str:
        """The deployment's model; several or none is the caller's to resolve."""
        if len(models) != 1:
            ids = ", ".join(m.id for m in models) or "none"
            raise openai.OpenAIError(
                f"the server serves {len(models)} models ({ids}); set GROK_MODEL or pass model="
            )
        return models[0].id


class GrokClient(_Base):
    """Blocking client. `base_url` defaults to $GROK_BASE_URL, $OPENAI_BASE_URL, then
    http://127.0.0.1:8000 (with or without `/v1`); `api_key` to $GROK_API_KEY, $OPENAI_API_KEY;
    `model` to $GROK_MODEL, then the deployment's single model. Timeouts and retries are
    openai's (600 s read, 5 s connect, 2 retries), except that a read timeout is raised, not
    retried, unless `retry_timeouts`. `client.openai` is the underlying `openai.OpenAI`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx2.Timeout = openai.DEFAULT_TIMEOUT,
        max_retries: int = openai.DEFAULT_MAX_RETRIES,
        retry_timeouts: bool = False,
    ) -> None:
        super().__init__(base_url, api_key, model)
        http = (httpx2.Client if retry_timeouts else FinalReadTimeoutClient)(
            **http_options(timeout)
        )
        self.openai = openai.OpenAI(**self._openai_options(timeout, max_retries), http_client=http)
        self._lock = threading.Lock()

    def models(self) -> list[Model]:
        """The models the deployment serves."""
        return list(self.openai.models.list())

    def resolve_model(self, model: str | None = None) -> str:
        """`model`, the default, or the deployment's single model (asked once)."""
        if model or self.model:
            return model or self.model  # type: ignore[return-value]
        with self._lock:
            if self._discovered is None:
                self._discovered = self._only_model(self.models())
        return self._discovered

    def complete(self, prompt: str | Sequence[int], **params: Unpack[Params]) -> Completion:
        """Continue `prompt` (text or token ids)."""
        args = completion_args(prompt, self.resolve_model(params.pop("model", None)), params)
        return self.openai.completions.create(**args)

    def chat(self, messages: Messages, **params: Unpack[Params]) -> ChatCompletion:
        """Answer a conversation (dicts with role/content, or one string as the user's turn)."""
        args = chat_args(messages, self.resolve_model(params.pop("model", None)), params)
        return self.openai.chat.completions.create(**args)

    def stream_complete(self, prompt: str | Sequence[int], **params: Unpack[Params]) -> TextStream:
        """`complete`, streamed as text deltas."""
        args = completion_args(prompt, self.resolve_model(params.pop("model", None)), params)
        return TextStream(self.openai.completions.create(**streaming(args)))

    def stream_chat(self, messages: Messages, **params: Unpack[Params]) -> TextStream:
        """`chat`, streamed as text deltas."""
        args = chat_args(messages, self.resolve_model(params.pop("model", None)), params)
        return TextStream(self.openai.chat.completions.create(**streaming(args)))

    def close(self) -> None:
        self.openai.close()

    def __enter__(self) -> GrokClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncGrokClient(_Base):
    """The asyncio twin of `GrokClient`: the same arguments and methods, awaited."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx2.Timeout = openai.DEFAULT_TIMEOUT,
        max_retries: int = openai.DEFAULT_MAX_RETRIES,
        retry_timeouts: bool = False,
    ) -> None:
        super().__init__(base_url, api_key, model)
        kind = httpx2.AsyncClient if retry_timeouts else FinalReadTimeoutAsyncClient
        self.openai = openai.AsyncOpenAI(
            **self._openai_options(timeout, max_retries),
            http_client=kind(**http_options(timeout)),
        )
        self._lock = asyncio.Lock()

    async def models(self) -> list[Model]:
        return [m async for m in self.openai.models.list()]

    async def resolve_model(self, model: str | None = None) -> str:
        if model or self.model:
            return model or self.model  # type: ignore[return-value]
        async with self._lock:
            if self._discovered is None:
                self._discovered = self._only_model(await self.models())
        return self._discovered

    async def complete(self, prompt: str | Sequence[int], **params: Unpack[Params]) -> Completion:
        args = completion_args(prompt, await self.resolve_model(params.pop("model", None)), params)
        return await self.openai.completions.create(**args)

    async def chat(self, messages: Messages, **params: Unpack[Params]) -> ChatCompletion:
        args = chat_args(messages, await self.resolve_model(params.pop("model", None)), params)
        return await self.openai.chat.completions.create(**args)

    async def stream_complete(
        self, prompt: str | Sequence[int], **params: Unpack[Params]
    ) -> AsyncTextStream:
        args = completion_args(prompt, await self.resolve_model(params.pop("model", None)), params)
        return AsyncTextStream(await self.openai.completions.create(**streaming(args)))

    async def stream_chat(self, messages: Messages, **params: Unpack[Params]) -> AsyncTextStream:
        args = chat_args(messages, await self.resolve_model(params.pop("model", None)), params)
        return AsyncTextStream(await self.openai.chat.completions.create(**streaming(args)))

    async def close(self) -> None:
        await self.openai.close()

    async def __aenter__(self) -> AsyncGrokClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
