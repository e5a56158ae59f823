"""Typed results parsed from real HTTP answers, the request bodies sent, model discovery."""

from __future__ import annotations

import pytest

from grok_client import (
    ChatCompletion,
    ChatMessage,
    Completion,
    GrokClient,
    GrokError,
    Model,
    Usage,
)
from tests.grok_client.conftest import FAST
from tests.grok_client.fake_openai_server import CANNED_TEXT, FakeOpenAIServer, Reply


def test_models_are_listed_in_server_order(client: GrokClient, server: FakeOpenAIServer) -> None:
    server.model_ids = ("grok-1", "grok-1-tiny")
    models = client.models()
    assert [m.id for m in models] == ["grok-1", "grok-1-tiny"]
    assert models[0] == Model(id="grok-1", created=1, owned_by="xai")
    assert models[0].raw["object"] == "model"


def test_completion_is_parsed_and_extra_fields_are_kept(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    result = client.complete("Say hi", model="grok-1")
    assert isinstance(result, Completion)
    assert result.text == CANNED_TEXT
    assert (result.id, result.model, result.created) == ("res-1", "grok-1", 1700000000)
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].logprobs is None
    assert result.usage == Usage(prompt_tokens=5, completion_tokens=4, total_tokens=9)
    assert result.raw["server_extra"] == {"kept": True}


def test_completion_sends_only_the_options_given(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    client.complete(
        "Say hi",
        model="grok-1",
        max_tokens=7,
        temperature=0.0,
        top_p=0.9,
        stop=("\n", "."),
        logprobs=2,
        seed=11,
        extra_body={"top_k": 5, "ignore_eos": True},
    )
    client.complete([1, 2, 3], model="grok-1")
    first, second = (r.body for r in server.requests_to("/v1/completions"))
    assert first == {
        "model": "grok-1",
        "prompt": "Say hi",
        "max_tokens": 7,
        "temperature": 0.0,
        "top_p": 0.9,
        "stop": ["\n", "."],
        "logprobs": 2,
        "seed": 11,
        "top_k": 5,
        "ignore_eos": True,
    }
    assert second == {"model": "grok-1", "prompt": [1, 2, 3]}


def test_completion_logprobs_are_typed(client: GrokClient, server: FakeOpenAIServer) -> None:
    logprobs = {
        "tokens": ["Hi", "!"],
        "token_logprobs": [-0.5, -1.25],
        "top_logprobs": [{"Hi": -0.5, "Hey": -1.0}, {"!": -1.25}],
        "text_offset": [0, 2],
    }
    choice = {"index": 0, "text": "Hi!", "logprobs": logprobs, "finish_reason": "length"}
    server.script(Reply(body={"id": "x", "model": "grok-1", "choices": [choice]}))
    result = client.complete("Say hi", model="grok-1", logprobs=1)
    parsed = result.choices[0].logprobs
    assert parsed is not None
    assert parsed.tokens == ["Hi", "!"]
    assert parsed.token_logprobs == [-0.5, -1.25]
    assert parsed.top_logprobs[0] == {"Hi": -0.5, "Hey": -1.0}
    assert parsed.text_offset == [0, 2]
    assert result.usage is None


def test_chat_is_parsed_and_messages_are_sent(client: GrokClient, server: FakeOpenAIServer) -> None:
    result = client.chat(
        [ChatMessage("system", "Be brief."), {"role": "user", "content": "Hi"}],
        model="grok-1",
        max_tokens=4,
        logprobs=3,
    )
    assert isinstance(result, ChatCompletion)
    assert result.text == CANNED_TEXT
    assert result.choices[0].message == ChatMessage("assistant", CANNED_TEXT)
    assert result.usage is not None and result.usage.total_tokens == 9
    (request,) = server.requests_to("/v1/chat/completions")
    assert request.body == {
        "model": "grok-1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 4,
        "logprobs": True,
        "top_logprobs": 3,
    }


def test_chat_accepts_one_string_and_converts_chat_logprobs(
    client: GrokClient, server: FakeOpenAIServer
) -> None:
    content = [
        {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}]},
        {"token": "!", "logprob": -2.0, "top_logprobs": []},
    ]
    message = {"role": "assistant", "content": "Hi!"}
    choice = {"index": 0, "message": message, "logprobs": {"content": content}}
    server.script(Reply(body={"id": "c", "model": "grok-1", "choices": [choice]}))
    result = client.chat("Hello", model="grok-1")
    assert server.requests[-1].body["messages"] == [{"role": "user", "content": "Hello"}]
    logprobs = result.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens == ["Hi", "!"]
    assert logprobs.token_logprobs == [-0.1, -2.0]
    assert logprobs.top_logprobs == [{"Hi": -0.1}, None]


def test_model_is_discovered_once_and_cached(client: GrokClient, server: FakeOpenAIServer) -> None:
    assert client.model is None
    client.complete("a")
    client.chat("b")
    assert len(server.requests_to("/v1/models")) == 1
    assert [r.body["model"] for r in server.requests if r.method == "POST"] == ["grok-1"] * 2
    assert client.model == "grok-1"


def test_default_or_explicit_model_skips_discovery(server: FakeOpenAIServer) -> None:
    with GrokClient(server.url, model="grok-default", **FAST) as client:
        client.complete("a")
        client.complete("b", model="grok-explicit")
    assert server.requests_to("/v1/models") == []
    assert [r.body["model"] for r in server.requests] == ["grok-default", "grok-explicit"]


def test_server_without_models_is_an_error(server: FakeOpenAIServer) -> None:
    server.model_ids = ()
    with GrokClient(server.url, **FAST) as client, pytest.raises(GrokError, match="no models"):
        client.complete("a")


def test_non_json_success_body_is_an_error(client: GrokClient, server: FakeOpenAIServer) -> None:
    server.script(Reply(body="<html>proxy page</html>"))
    with pytest.raises(GrokError, match="not a JSON object"):
        client.models()
