"""AsyncGrokClient: the same results, errors and retries as the sync client."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from grok_client import (
    APIConnectionError,
    AsyncGrokClient,
    AuthenticationError,
    ChatCompletion,
    Completion,
)
from tests.grok_client.conftest import FAST
from tests.grok_client.fake_openai_server import CANNED_TEXT, FakeOpenAIServer, Reply, error_body

T = TypeVar("T")


def run(url: str, work: Callable[[AsyncGrokClient], Awaitable[T]], **options: Any) -> T:
    """Run `work` with a fresh async client on its own event loop, bounded in time."""

    async def main() -> T:
        async with AsyncGrokClient(url, **{**FAST, **options}) as client:
            return await work(client)

    return asyncio.run(asyncio.wait_for(main(), 10))


def test_models_complete_and_chat(server: FakeOpenAIServer) -> None:
    async def work(client: AsyncGrokClient) -> tuple[list[str], Completion, ChatCompletion]:
        models = [m.id for m in await client.models()]
        return models, await client.complete("x", max_tokens=3), await client.chat("Hi")

    models, completion, chat = run(server.url, work)
    assert models == ["grok-1"]
    assert completion.text == chat.text == CANNED_TEXT
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    assert server.requests_to("/v1/completions")[0].body == {
        "model": "grok-1",
        "prompt": "x",
        "max_tokens": 3,
    }


def test_concurrent_first_requests_discover_the_model_once(server: FakeOpenAIServer) -> None:
    async def work(client: AsyncGrokClient) -> list[str]:
        results = await asyncio.gather(*(client.complete(str(i)) for i in range(5)))
        return [r.model for r in results]

    assert run(server.url, work) == ["grok-1"] * 5
    assert len(server.requests_to("/v1/models")) == 1


def test_401_is_not_retried(server: FakeOpenAIServer) -> None:
    server.script(Reply(status=401, body=error_body("Invalid API key", "Unauthorized", 401)))
    with pytest.raises(AuthenticationError, match="^401 Unauthorized: Invalid API key$"):
        run(server.url, lambda client: client.complete("x"), model="grok-1", api_key="wrong")
    assert len(server.requests) == 1
    assert server.requests[0].headers["authorization"] == "Bearer wrong"


def test_503_and_dropped_connection_are_retried(server: FakeOpenAIServer) -> None:
    server.script(Reply(status=503, body="busy"), Reply(disconnect=True))
    chat = run(server.url, lambda client: client.chat("Hi"), model="grok-1", max_retries=2)
    assert chat.text == CANNED_TEXT
    assert len(server.requests) == 3


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(APIConnectionError, match=f"127.0.0.1:{port}"):
        run(f"http://127.0.0.1:{port}", lambda client: client.models(), max_retries=1)
