"""Fixtures for the SDK tests: a fresh fake server per test, and clients that retry fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import pytest

from grok_client import API_KEY_ENV, BASE_URL_ENV, MODEL_ENV, GrokClient
from tests.grok_client.fake_openai_server import FakeOpenAIServer


class ClientOptions(TypedDict):
    backoff: float
    max_backoff: float
    timeout: float


# Retries wait milliseconds here, so retry tests take no time; the timeout bounds every call.
FAST = ClientOptions(backoff=0.001, max_backoff=0.002, timeout=5.0)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GROK_* variable of the developer's shell leaks into a test."""
    for name in (API_KEY_ENV, BASE_URL_ENV, MODEL_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[GrokClient]:
    with GrokClient(server.url, max_retries=2, **FAST) as sdk:
        yield sdk
