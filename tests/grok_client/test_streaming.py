"""Streaming, sync and async: chunks, usage, [DONE], text(), errors inside the stream."""

from __future__ import annotations

import asyncio

import pytest

from grok_client import (
    APIConnectionError,
    AsyncGrokClient,
    BadRequestError,
    GrokClient,
    InternalServerError,
    StreamChunk,
    Usage,
)
from tests.grok_client.conftest import FAST
from tests.grok_client.fake_openai_server import (
    CANNED_PIECES,
    CANNED_TEXT,
    CANNED_USAGE,
    FakeOpenAIServer,
    Reply,
    chat_event,
    completion_event,
    error_body,
)

USAGE = Usage(**CANNED_USAGE)


def test_stream_complete_yields_deltas_then_usage(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    with client.stream_complete("Say hi", model="grok-1", max_tokens=4) as stream:
        chunks = list(stream)
    assert [c.text for c in chunks] == [*CANNED_PIECES, "", ""]
    assert [c.finish_reason for c in chunks] == [None] * 4 + ["stop", None]
    assert chunks[-1].usage == USAGE
    assert (stream.text(), stream.usage, stream.finish_reason) == (CANNED_TEXT, USAGE, "stop")
    (request,) = server.requests_to("/v1/completions")
    assert request.body == {
        "model": "grok-1",
        "prompt": "Say hi",
        "max_tokens": 4,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_stream_chat_text_skips_missing_content(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    stream = client.stream_chat("Hi", model="grok-1", include_usage=False)
    first = next(stream)
    assert (first.role, first.text) == ("assistant", "")
    assert stream.text() == CANNED_TEXT
    assert stream.usage is None
    assert stream.finish_reason == "stop"
    assert "stream_options" not in server.requests[-1].body


def test_text_includes_chunks_already_iterated(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    stream = client.stream_complete("x", model="grok-1")
    assert next(stream).text == "Hello"
    assert stream.text() == CANNED_TEXT


def test_stream_without_done_marker_or_with_only_done(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    server.script(
        Reply(events=[completion_event("a"), completion_event("b", "length")], done=False),
        Reply(events=[]),
    )
    assert client.stream_complete("x", model="grok-1").text() == "ab"
    assert list(client.stream_complete("x", model="grok-1")) == []


def test_multi_line_data_comments_and_n_choices(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    two = completion_event("left")
    two["choices"].append({"index": 1, "text": "right", "finish_reason": None})
    multi_line = '{"choices": [{"index": 0,\ndata: "text": "!"}]}'
    server.script(Reply(events=[b": keep-alive\n\n", two, b"event: message\n", multi_line]))
    chunks = list(client.stream_complete("x", model="grok-1", n=2))
    assert [(c.index, c.text) for c in chunks] == [(0, "left"), (1, "right"), (0, "!")]


def test_error_event_mid_stream_raises_without_retry(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    boom = error_body("engine died", "InternalServerError", 500)
    server.script(Reply(events=[completion_event("Hel"), boom]))
    stream = client.stream_complete("x", model="grok-1")
    assert next(stream).text == "Hel"
    with pytest.raises(InternalServerError, match="engine died") as caught:
        next(stream)
    assert caught.value.status_code == 500
    assert len(server.requests) == 1


def test_error_event_first_carries_its_status(client: GrokClient, server: FakeOpenAIServer) -> None:
    server.script(Reply(events=[error_body("prompt too long", code=400)]))
    with pytest.raises(BadRequestError, match="prompt too long"):
        list(client.stream_complete("x", model="grok-1"))
    assert len(server.requests) == 1


def test_connection_cut_after_first_chunk_is_not_retried(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    server.script(Reply(events=[completion_event("Hel")], done=False, complete=False))
    stream = client.stream_complete("x", model="grok-1")
    assert next(stream).text == "Hel"
    with pytest.raises(APIConnectionError):
        next(stream)
    assert len(server.requests) == 1


def test_failures_before_first_chunk_are_retried(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    server.script(Reply(status=503, body=error_body("warming up", code=503)))
    server.script(Reply(events=[], done=False, complete=False))  # cut before any event
    assert client.stream_chat("Hi", model="grok-1").text() == CANNED_TEXT
    assert len(server.requests) == 3


def test_stream_status_error_is_raised_on_iteration(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    server.script(Reply(status=400, body=error_body("bad stop")))
    stream = client.stream_chat("Hi", model="grok-1")
    assert server.requests == []  # nothing is sent before iteration
    with pytest.raises(BadRequestError, match="bad stop"):
        next(stream)


def test_closing_early_releases_the_stream(client: GrokClient, server: FakeOpenAIServer) -> None:
    with client.stream_complete("x", model="grok-1") as stream:
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)
    assert client.complete("y", model="grok-1").text == CANNED_TEXT


def test_async_streams(server: FakeOpenAIServer) -> None:
    async def run() -> tuple[list[StreamChunk], str, Usage | None, str]:
        async with AsyncGrokClient(server.url, **FAST) as client:
            chunks = [c async for c in client.stream_complete("x", max_tokens=4)]
            async with client.stream_chat("Hi") as stream:
                first = await anext(stream)
                text = await stream.text()
            return chunks, text, stream.usage, first.role or ""

    chunks, text, usage, role = asyncio.run(asyncio.wait_for(run(), 10))
    assert [c.text for c in chunks] == [*CANNED_PIECES, "", ""]
    assert chunks[-1].usage == USAGE
    assert (text, usage, role) == (CANNED_TEXT, USAGE, "assistant")
    assert len(server.requests_to("/v1/models")) == 1


def test_async_stream_errors_and_retries(server: FakeOpenAIServer) -> None:
    server.script(
        Reply(status=503, body="busy"),
        Reply(events=[chat_event("Hi", role="assistant"), error_body("oops", code=500)]),
    )

    async def run() -> list[str]:
        seen: list[str] = []
        async with AsyncGrokClient(server.url, model="grok-1", **FAST) as client:
            with pytest.raises(InternalServerError, match="oops"):
                async for chunk in client.stream_chat("Hi"):
                    seen.append(chunk.text)
        return seen

    assert asyncio.run(asyncio.wait_for(run(), 10)) == ["Hi"]
    assert len(server.requests) == 2
