"""What is sent again (502/503/504 and the like, with Retry-After) and what never is (a
generation after a read timeout), over real HTTP to a scripted server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from grok_client import APITimeoutError, BadRequestError, GrokClient
from tests.grok_client.scripted_server import MODEL, TEXT, Reply, ScriptedServer

RETRY_NOW = (("Retry-After", "0.01"),)


def test_gateway_errors_then_success_are_retried() -> None:
    script = [Reply(status, headers=RETRY_NOW) for status in (502, 503, 504)]
    with ScriptedServer(*script) as server, GrokClient(server.url, max_retries=3) as client:
        assert client.complete("The answer is", max_tokens=4).choices[0].text == TEXT
    assert len(server.posts) == 4
    assert {post["model"] for post in server.posts} == {MODEL}


def test_retry_after_is_honoured() -> None:
    with (
        ScriptedServer(Reply(429, headers=(("Retry-After", "1.5"),))) as server,
        GrokClient(server.url) as client,
    ):
        started = time.monotonic()
        client.complete("x", max_tokens=1)
    assert time.monotonic() - started >= 1.5
    assert len(server.posts) == 2


def test_bad_request_is_not_retried() -> None:
    with (
        ScriptedServer(Reply(400)) as server,
        GrokClient(server.url) as client,
        pytest.raises(BadRequestError, match="scripted 400"),
    ):
        client.complete("x", max_tokens=1)
    assert len(server.posts) == 1


def test_read_timeout_is_not_resent_unless_asked() -> None:
    slow = [Reply(delay=1.0) for _ in range(4)]
    with ScriptedServer(*slow) as server:
        with GrokClient(server.url, timeout=0.3) as client, pytest.raises(APITimeoutError):
            client.complete("x", max_tokens=1)
        assert len(server.posts) == 1
        with (
            GrokClient(server.url, timeout=0.3, retry_timeouts=True) as client,
            pytest.raises(APITimeoutError),
        ):
            client.complete("x", max_tokens=1)
        assert len(server.posts) == 1 + 3  # openai's two retries


def test_cli_waits_75_seconds_for_one_answer() -> None:
    """The issue's case: a 75 s generation succeeds through `grok complete`, sent once."""
    with ScriptedServer(Reply(delay=75.0)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "grok_client", "complete", "The answer is", "--max-tokens", "4"],
            env={**os.environ, "GROK_BASE_URL": server.url},
            capture_output=True,
            text=True,
            timeout=200,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == TEXT + "\n"
    assert len(server.posts) == 1
    assert server.posts[0]["max_tokens"] == 4
