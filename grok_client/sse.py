"""Decoding a `text/event-stream` body into the JSON events it carries.

The framing rules (an event ends at a blank line, `data:` lines join, `:` lines are keep-alive
comments) live in `SSEDecoder`, written once for both clients; only the line source differs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

from grok_client.errors import error_from_event
from grok_client.types import parse_object

DONE = "[DONE]"


class SSEDecoder:
    """Accumulates lines and hands back each complete event's data."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line (without its line break); return the event's data when it completes."""
        if not line:
            return self.flush()
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def flush(self) -> str | None:
        """The data of an event the stream ended in the middle of, if any."""
        data, self._data = self._data, []
        return "\n".join(data) if data else None


def decode_event(data: str) -> dict[str, Any] | None:
    """One event's JSON; None for the `[DONE]` marker; an error event is raised as its error."""
    if data.strip() == DONE:
        return None
    event = parse_object(data, "stream event")
    if event.get("error") is not None or event.get("object") == "error":
        raise error_from_event(event)
    return event


def iter_events(lines: Iterator[str]) -> Generator[dict[str, Any], None, None]:
    """The JSON events of a stream's lines, up to `[DONE]` or the end of the body."""
    decoder = SSEDecoder()
    for line in lines:
        data = decoder.feed(line)
        if data is not None:
            event = decode_event(data)
            if event is None:
                return
            yield event
    data = decoder.flush()
    if data is not None and (event := decode_event(data)) is not None:
        yield event


async def aiter_events(lines: AsyncIterator[str]) -> AsyncGenerator[dict[str, Any], None]:
    """`iter_events` for an async line source."""
    decoder = SSEDecoder()
    async for line in lines:
        data = decoder.feed(line)
        if data is not None:
            event = decode_event(data)
            if event is None:
                return
            yield event
    data = decoder.flush()
    if data is not None and (event := decode_event(data)) is not None:
        yield event
