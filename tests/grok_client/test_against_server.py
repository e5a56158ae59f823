"""The SDK and the `grok` CLI against the real served app (tests/conftest.py `served`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from grok_client import (
    AsyncGrokClient,
    AuthenticationError,
    BadRequestError,
    GrokClient,
    NotFoundError,
)

MODEL = "grok-1-tiny"
PROMPT = "The answer to life, the universe, and everything is"


def test_sync_complete_chat_and_stream(served: str, api_key: str) -> None:
    with GrokClient(served, api_key=api_key) as client:
        assert [m.id for m in client.models()] == [MODEL]
        whole = client.complete(PROMPT, max_tokens=8, temperature=0)
        assert client.model == MODEL  # discovered by the first request
        assert whole.usage.completion_tokens == 8
        with client.stream_complete(PROMPT, max_tokens=8, temperature=0) as stream:
            chunks = list(stream)
        assert "".join(c.text for c in chunks) == whole.text
        assert stream.usage.completion_tokens == 8
        chat = client.chat("hi", max_tokens=4, temperature=0, stop="\n\nHuman:")
        assert chat.choices[0].message.role == "assistant"


def test_async_streaming_chat(served: str, api_key: str) -> None:
    async def run() -> tuple[str, str]:
        async with AsyncGrokClient(served, api_key=api_key) as client:
            whole = await client.chat("hi", max_tokens=6, temperature=0)
            pieces = [c.text async for c in client.stream_chat("hi", max_tokens=6, temperature=0)]
            return whole.text, "".join(pieces)

    whole, streamed = asyncio.run(asyncio.wait_for(run(), timeout=300))
    assert streamed == whole


def test_server_errors_become_typed_exceptions(served: str, api_key: str) -> None:
    with (
        GrokClient(served, api_key="wrong", max_retries=3) as client,
        pytest.raises(AuthenticationError, match="Invalid API key") as exc,
    ):
        client.models()
    assert exc.value.status_code == 401
    with GrokClient(served, api_key=api_key) as client:
        with pytest.raises(BadRequestError, match="max_tokens"):
            client.complete("hi", max_tokens=-1, model=MODEL)
        with pytest.raises(NotFoundError, match="nope"):
            client.complete("hi", max_tokens=1, model="nope")


def test_cli_streams_a_completion(served: str, api_key: str) -> None:
    env = {**os.environ, "GROK_BASE_URL": served, "GROK_API_KEY": api_key}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grok_client",
            "complete",
            PROMPT,
            "--max-tokens",
            "8",
            "--temperature",
            "0",
            "--stream",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    with GrokClient(served, api_key=api_key) as client:
        expected = client.complete(PROMPT, max_tokens=8, temperature=0).text
    assert proc.stdout.rstrip("\n") == expected.rstrip("\n")
    bad = subprocess.run(
        [sys.executable, "-m", "grok_client", "models"],
        env={**env, "GROK_API_KEY": "wrong"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("grok: error:") and "Traceback" not in bad.stderr
