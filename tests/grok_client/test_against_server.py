"""The SDK and the `grok` CLI against the real served app (tests/conftest.py `served`)."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time

import openai
import pytest

from grok_client import CHAT_STOP, AsyncGrokClient, AuthenticationError, BadRequestError, GrokClient

MODEL = "grok-1-tiny"
PROMPT = "The answer to life, the universe, and everything is"


def test_same_results_as_openai(served: str, api_key: str) -> None:
    plain = openai.OpenAI(base_url=f"{served}/v1", api_key=api_key)
    with GrokClient(served, api_key=api_key) as client:
        assert [m.id for m in client.models()] == [MODEL]
        ours = client.complete(PROMPT, max_tokens=8, temperature=0, logprobs=2)
        assert client.model == MODEL  # discovered by the first request
        theirs = plain.completions.create(
            model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0, logprobs=2
        )
        assert ours.choices[0].text == theirs.choices[0].text
        assert ours.choices[0].logprobs.token_logprobs == pytest.approx(
            theirs.choices[0].logprobs.token_logprobs, abs=1e-5
        )
        with client.stream_complete(PROMPT, max_tokens=8, temperature=0) as stream:
            pieces = list(stream)
        assert "".join(pieces) == ours.choices[0].text
        assert stream.usage is not None and stream.usage.completion_tokens == 8
        chat = client.chat("hi", max_tokens=6, temperature=0)
        reference = plain.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=6,
            temperature=0,
            stop=[CHAT_STOP],
        )
        assert chat.choices[0].message.content == reference.choices[0].message.content


def test_async_streaming_chat(served: str, api_key: str) -> None:
    async def run() -> tuple[str, str]:
        async with AsyncGrokClient(served, api_key=api_key) as client:
            whole = await client.chat("hi", max_tokens=6, temperature=0)
            stream = await client.stream_chat("hi", max_tokens=6, temperature=0)
            pieces = [piece async for piece in stream]
            return whole.choices[0].message.content or "", "".join(pieces)

    whole, streamed = asyncio.run(asyncio.wait_for(run(), timeout=300))
    assert streamed == whole


def test_server_errors_are_openai_errors(served: str, api_key: str) -> None:
    with (
        GrokClient(served, api_key="wrong") as client,
        pytest.raises(AuthenticationError, match="Invalid API key"),
    ):
        client.models()
    with (
        GrokClient(served, api_key=api_key) as client,
        pytest.raises(BadRequestError, match="max_tokens"),
    ):
        client.complete("hi", max_tokens=-1)


def _grok_env(served: str, api_key: str) -> dict[str, str]:
    return {**os.environ, "GROK_BASE_URL": served, "GROK_API_KEY": api_key}


def test_cli_complete_json_and_errors(served: str, api_key: str) -> None:
    run = [sys.executable, "-m", "grok_client"]
    proc = subprocess.run(
        [*run, "complete", PROMPT, "--max-tokens", "8", "--temperature", "0", "--json"],
        env=_grok_env(served, api_key),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    answer = openai.types.Completion.model_validate_json(proc.stdout)
    assert answer.usage is not None and answer.usage.completion_tokens == 8
    bad = subprocess.run(
        [*run, "models"],
        env={**_grok_env(served, api_key), "GROK_API_KEY": "wrong"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("grok: error:") and "Traceback" not in bad.stderr


def test_cli_chat_session_in_a_terminal(served: str, api_key: str) -> None:
    """`grok chat` without a message, in a pseudo-terminal: two turns, each answer ends on its
    own (the 256-token default or the chat stop), and the second turn carries the first."""
    pid, fd = pty.fork()
    if pid == 0:
        env = _grok_env(served, api_key)
        os.execve(sys.executable, [sys.executable, "-m", "grok_client", "chat"], env)
    transcript = b""

    def read_until(marker: bytes, seconds: float) -> None:
        """Read until the terminal shows `marker` once more than it has so far."""
        nonlocal transcript
        wanted = transcript.count(marker) + 1
        deadline = time.monotonic() + seconds
        while transcript.count(marker) < wanted:
            assert time.monotonic() < deadline, transcript.decode(errors="replace")
            if select.select([fd], [], [], 1)[0]:
                transcript += os.read(fd, 4096)

    try:
        read_until(b"you> ", 60)
        os.write(fd, b"Hello there\r")
        read_until(b"you> ", 300)  # the answer ended by itself and the session asks again
        os.write(fd, b"And again\r")
        read_until(b"you> ", 300)
        os.write(fd, b"\r")  # an empty line ends the session
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    turns = transcript.split(b"you> ")
    assert len(turns) == 4  # greeting, two answers, the final prompt
    assert all(answer.strip() for answer in turns[1:3])


def test_cli_chat_session_from_a_pipe_keeps_the_conversation(served: str, api_key: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "grok_client", "chat", "--json", "--max-tokens", "4"],
        input="Hello there\nAnd again\n",
        env=_grok_env(served, api_key),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = (
        openai.types.chat.ChatCompletion.model_validate_json(line)
        for line in proc.stdout.splitlines()
    )
    assert first.usage is not None and second.usage is not None
    # The second request carried the first turn and its answer.
    assert second.usage.prompt_tokens > first.usage.prompt_tokens + first.usage.completion_tokens
