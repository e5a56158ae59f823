"""Streamed answers as text: iterate the deltas as they arrive, or call `text()` for the whole.

A stream remembers what it has handed out, so `text()`, `usage` and `finish_reason` are right
however much the caller has already iterated. Only the first choice is followed; for `n > 1`
use `client.openai` directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from openai import AsyncStream, Stream
from openai.types import CompletionUsage


class _Transcript:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.usage: CompletionUsage | None = None
        self.finish_reason: str | None = None

    def delta(self, chunk: Any) -> str | None:
        """Record `chunk` (a completion or chat chunk); its first choice's text, if any."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
            text = choice.delta.content if hasattr(choice, "delta") else choice.text
            if text:
                self.pieces.append(text)
                return text
        return None


class TextStream(_Transcript):
    """The text deltas of one streaming request (`GrokClient.stream_complete`/`stream_chat`)."""

    def __init__(self, stream: Stream[Any]) -> None:
        super().__init__()
        self._stream = stream

    def __iter__(self) -> Iterator[str]:
        for chunk in self._stream:
            text = self.delta(chunk)
            if text is not None:
                yield text

    def text(self) -> str:
        """Read the rest of the stream; the whole text."""
        for _ in self:
            pass
        return "".join(self.pieces)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTextStream(_Transcript):
    """`TextStream` for `AsyncGrokClient`: `async for`, `async with`, `await stream.text()`."""

    def __init__(self, stream: AsyncStream[Any]) -> None:
        super().__init__()
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[str]:
        async for chunk in self._stream:
            text = self.delta(chunk)
            if text is not None:
                yield text

    async def text(self) -> str:
        async for _ in self:
            pass
        return "".join(self.pieces)

    async def close(self) -> None:
        await self._stream.close()

    async def __aenter__(self) -> AsyncTextStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
