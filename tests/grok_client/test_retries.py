"""What is retried (network failures, 429, 503), what never is (other statuses), and how long
the client waits in between."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from grok_client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GrokClient,
    RateLimitError,
    ServiceUnavailableError,
)
from grok_client.errors import APIStatusError
from grok_client.retry import RetryPolicy, retry_after_seconds
from tests.grok_client.conftest import FAST
from tests.grok_client.fake_openai_server import (
    CANNED_TEXT,
    FakeOpenAIServer,
    Reply,
    error_body,
)

COMPLETIONS = "/v1/completions"


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (400, BadRequestError), (404, APIStatusError)],
)
def test_client_errors_are_never_retried(
    client: GrokClient, server: FakeOpenAIServer, status: int, error: type[Exception]
) -> None:
    server.script(Reply(status=status, body=error_body("no", code=status)))
    with pytest.raises(error):
        client.complete("x", model="grok-1")
    assert len(server.requests_to(COMPLETIONS)) == 1


def test_503_then_success(client: GrokClient, server: FakeOpenAIServer) -> None:
    server.script(Reply(status=503, body=error_body("loading", "ServiceUnavailable", 503)))
    assert client.complete("x", model="grok-1").text == CANNED_TEXT
    assert len(server.requests_to(COMPLETIONS)) == 2


def test_429_retry_after_is_obeyed_over_backoff(server: FakeOpenAIServer) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "0"}, body=error_body("slow down")))
    # A backoff of 30 s would make this test hang: finishing fast shows Retry-After was used.
    with GrokClient(server.url, model="grok-1", backoff=30.0, max_backoff=30.0) as client:
        started = time.monotonic()
        assert client.complete("x").text == CANNED_TEXT
    assert time.monotonic() - started < 5
    assert len(server.requests_to(COMPLETIONS)) == 2


def test_exhausted_retries_raise_the_last_error(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    server.script(*(Reply(status=503, body=error_body(f"busy {i}", code=503)) for i in range(3)))
    with pytest.raises(ServiceUnavailableError, match="busy 2"):
        client.complete("x", model="grok-1")
    assert len(server.requests_to(COMPLETIONS)) == 3  # max_retries=2: three attempts


def test_dropped_connections_are_retried_then_raised(server: FakeOpenAIServer) -> None:
    server.script(*(Reply(disconnect=True) for _ in range(4)))
    with (
        GrokClient(server.url, model="grok-1", max_retries=3, **FAST) as client,
        pytest.raises(APIConnectionError, match="cannot reach http://127.0.0.1"),
    ):
        client.complete("x")
    assert len(server.requests_to(COMPLETIONS)) == 4


def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.INFO, logger="grok_client")
    with (
        GrokClient(f"http://127.0.0.1:{port}", model="grok-1", max_retries=2, **FAST) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.models()
    assert f"cannot reach http://127.0.0.1:{port}/v1/models" in str(caught.value)
    # Three attempts: two retries logged, then the last failure raised.
    retries = [r.getMessage() for r in caplog.records if r.name == "grok_client"]
    assert len(retries) == 2
    assert "retry 1 of 2" in retries[0] and "retry 2 of 2" in retries[1]


def test_read_timeout_is_retried_then_raised(server: FakeOpenAIServer) -> None:
    server.script(Reply(delay=1.0), Reply(delay=1.0))
    with (
        GrokClient(server.url, max_retries=1, backoff=0.001, timeout=0.1) as client,
        pytest.raises(APITimeoutError, match="ReadTimeout"),
    ):
        client.models()
    assert len(server.requests) == 2


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=5.0)
    error = APIConnectionError("down")
    for retry, ceiling in enumerate([1.0, 2.0, 4.0, 5.0, 5.0]):
        for _ in range(20):
            assert 0.75 * ceiling <= policy.delay(retry, error) <= ceiling


def test_retry_after_seconds_date_and_cap() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    busy = RateLimitError(429, "slow", headers={"Retry-After": "3"})
    assert policy.delay(0, busy) == 3.0
    assert policy.delay(0, RateLimitError(429, "slow", headers={"Retry-After": "999"})) == 10.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after_seconds({"retry-after": later}) or 0) <= 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "nan"}) is None


def test_which_errors_are_retryable() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(APITimeoutError("slow"))
    assert policy.should_retry(ServiceUnavailableError(503, "busy"))
    assert policy.should_retry(RateLimitError(429, "slow"))
    for status in (400, 401, 403, 404, 422, 500):
        assert not policy.should_retry(APIStatusError(status, "no"))
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
