"""Settings from arguments, then GROK_* environment variables, then defaults."""

from __future__ import annotations

import pytest

from grok_client import DEFAULT_BASE_URL, GrokClient, GrokError
from tests.grok_client.conftest import FAST
from tests.grok_client.fake_openai_server import FakeOpenAIServer


def test_api_key_from_env_is_sent_as_bearer(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROK_API_KEY", "sk-from-env")
    with GrokClient(server.url, **FAST) as client:
        client.models()
    with GrokClient(server.url, api_key="sk-arg", **FAST) as client:
        client.models()
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer sk-from-env",
        "Bearer sk-arg",
    ]


def test_no_key_no_authorization_header(server: FakeOpenAIServer) -> None:
    with GrokClient(server.url, **FAST) as client:
        client.models()
    assert "authorization" not in server.requests[0].headers


def test_base_url_and_model_from_env(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROK_BASE_URL", server.url + "/v1/")
    monkeypatch.setenv("GROK_MODEL", "grok-env")
    with GrokClient(**FAST) as client:
        assert client.base_url == server.url
        assert client.model == "grok-env"
        client.complete("x")
    assert [(r.path, r.body["model"]) for r in server.requests] == [("/v1/completions", "grok-env")]


def test_defaults_and_bad_base_url() -> None:
    with GrokClient() as client:
        assert client.base_url == DEFAULT_BASE_URL
    with pytest.raises(GrokError, match="must start with http"):
        GrokClient("localhost:8000")
