"""Streamed answers: iterators of `StreamChunk` that also remember what they produced.

Printing deltas as they arrive and wanting the whole text (or the usage) at the end are both
common, often in the same program; a stream records every chunk it hands out, so `text()`,
`usage` and `finish_reason` are right however much the caller has already iterated.

The request is sent when iteration starts, not when the stream object is made, so the async
client's `stream_*` methods can return a stream for `async for` directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Generator
from types import TracebackType
from typing import Any

from grok_client.types import StreamChunk, Usage


class _Transcript:
    """Everything a stream has handed out so far, per choice."""

    def __init__(self) -> None:
        self.pieces: dict[int, list[str]] = {}
        self.finish_reasons: dict[int, str] = {}
        self.usage: Usage | None = None

    def record(self, chunk: StreamChunk) -> None:
        self.pieces.setdefault(chunk.index, []).append(chunk.text)
        if chunk.finish_reason is not None:
            self.finish_reasons[chunk.index] = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage


class Stream:
    """The chunks of one streaming request (from `GrokClient.stream_complete`/`stream_chat`).

    Use it as a context manager, or read it to the end, so that stopping early still releases
    the connection. Errors arrive as `GrokError`s from the iteration.
    """

    def __init__(self, events: Generator[dict[str, Any], None, None]) -> None:
        self._events = events
        self._pending: deque[StreamChunk] = deque()
        self._transcript = _Transcript()

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> StreamChunk:
        while not self._pending:
            self._pending.extend(StreamChunk.list_from_event(next(self._events)))
        chunk = self._pending.popleft()
        self._transcript.record(chunk)
        return chunk

    def text(self, index: int = 0) -> str:
        """Read the rest of the stream and return the whole text of choice `index`."""
        for _ in self:
            pass
        return "".join(self._transcript.pieces.get(index, []))

    @property
    def usage(self) -> Usage | None:
        """Token counts, once the server's usage chunk has been read."""
        return self._transcript.usage

    @property
    def finish_reason(self) -> str | None:
        """Why the first choice ended ("stop", "length"...), once its last chunk has been read."""
        return self._transcript.finish_reasons.get(0)

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._events.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStream:
    """`Stream` for the async client: use `async for`, `async with` and `await stream.text()`."""

    def __init__(self, events: AsyncGenerator[dict[str, Any], None]) -> None:
        self._events = events
        self._pending: deque[StreamChunk] = deque()
        self._transcript = _Transcript()

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> StreamChunk:
        while not self._pending:
            self._pending.extend(StreamChunk.list_from_event(await anext(self._events)))
        chunk = self._pending.popleft()
        self._transcript.record(chunk)
        return chunk

    async def text(self, index: int = 0) -> str:
        """Read the rest of the stream and return the whole text of choice `index`."""
        async for _ in self:
            pass
        return "".join(self._transcript.pieces.get(index, []))

    @property
    def usage(self) -> Usage | None:
        """Token counts, once the server's usage chunk has been read."""
        return self._transcript.usage

    @property
    def finish_reason(self) -> str | None:
        """Why the first choice ended ("stop", "length"...), once its last chunk has been read."""
        return self._transcript.finish_reasons.get(0)

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._events.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
