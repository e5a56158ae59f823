"""`serve run deployments/grok-tiny.yaml`, driven over HTTP on 127.0.0.1 like a user would.

One server for the whole session (tests/conftest.py `served`), started with an API key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from deployments.spec import TINY
from model_ext.ckpt.tokenizer_files import CHAT_STOP

MODEL = "grok-1-tiny"
PROMPT = "The answer to life, the universe, and everything is"


@pytest.fixture(scope="module")
def http(served: str, api_key: str) -> httpx.Client:
    with httpx.Client(
        base_url=served, headers={"Authorization": f"Bearer {api_key}"}, timeout=120
    ) as client:
        yield client


@pytest.fixture(scope="module")
def oai(served: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served}/v1", api_key=api_key, max_retries=0, timeout=120)


def test_models_lists_the_tiny_model(http: httpx.Client) -> None:
    body = http.get("/v1/models").json()
    assert [m["id"] for m in body["data"]] == [MODEL]


def test_greedy_output_equals_the_same_model_run_directly_in_vllm(
    oai: openai.OpenAI, run_engine: Callable[..., dict[str, Any]], converted: Path
) -> None:
    """The served tiny model (made on first use, seed 0) is the tests' tiny model: same text."""
    direct = run_engine(converted)
    served = oai.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0)
    assert served.choices[0].text == direct["greedy_texts"][len(direct["prompt_logprobs"])]
    assert served.usage.completion_tokens == 8


def test_logprobs_stop_and_max_tokens(oai: openai.OpenAI) -> None:
    full = oai.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=2
    )
    choice = full.choices[0]
    assert full.usage.completion_tokens == 6 and choice.finish_reason == "length"
    assert len(choice.logprobs.tokens) == 6
    assert all(len(top) >= 1 for top in choice.logprobs.top_logprobs)
    # Greedy: each chosen token is the most likely one.
    for token, logprob, top in zip(
        choice.logprobs.tokens,
        choice.logprobs.token_logprobs,
        choice.logprobs.top_logprobs,
        strict=True,
    ):
        assert logprob == pytest.approx(max(top.values()), abs=1e-4), token
    stop = choice.logprobs.tokens[3]
    cut = oai.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == choice.text[: choice.text.index(stop)]


def test_streaming_completion_matches_non_streaming(oai: openai.OpenAI) -> None:
    whole = oai.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0)
    chunks = list(
        oai.completions.create(
            model=MODEL,
            prompt=PROMPT,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == 8


def test_chat_uses_the_documented_template(oai: openai.OpenAI, release_tokenizer: Path) -> None:
    import sentencepiece as spm

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    reply = oai.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=5, temperature=0, stop=[CHAT_STOP]
    )
    sp = spm.SentencePieceProcessor(model_file=str(release_tokenizer))
    assert reply.usage.prompt_tokens == len(sp.encode("Be brief.\n\nHuman: hi\n\nAssistant:"))
    assert reply.choices[0].message.role == "assistant"
    streamed = oai.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=5, temperature=0, stop=[CHAT_STOP], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == reply.choices[0].message.content


def test_32_concurrent_streams_all_complete(served: str, api_key: str) -> None:
    """A bounded burst: 32 streaming requests at once, each must deliver all its tokens."""
    tokens = 16

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, int]:
        body = {
            "model": MODEL,
            "prompt": f"{PROMPT} {i}",
            "max_tokens": tokens,
            "stream": True,
            "ignore_eos": True,
            "stream_options": {"include_usage": True},
        }
        pieces, usage = 0, -1
        async with client.stream("POST", "/v1/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                pieces += sum(1 for c in chunk["choices"] if c["text"])
                if chunk.get("usage"):
                    usage = chunk["usage"]["completion_tokens"]
        return pieces, usage

    async def burst() -> list[tuple[int, int]]:
        async with httpx.AsyncClient(
            base_url=served, headers={"Authorization": f"Bearer {api_key}"}, timeout=300
        ) as client:
            return await asyncio.wait_for(
                asyncio.gather(*(one(client, i) for i in range(32))), timeout=600
            )

    results = asyncio.run(burst())
    assert len(results) == 32
    assert all(usage == tokens for _, usage in results), results
    assert all(pieces >= 1 for pieces, _ in results)


BAD_REQUESTS = {
    "malformed-json": ('{"model": "grok-1-tiny", "prompt": ', 400, "json"),
    "unknown-model": ({"model": "nope", "prompt": "hi", "max_tokens": 3}, 404, "nope"),
    "prompt-too-long": (
        {"model": MODEL, "prompt": "hello " * 5000, "max_tokens": 3},
        400,
        "context",
    ),
    "negative-max-tokens": ({"model": MODEL, "prompt": "hi", "max_tokens": -5}, 400, "max_tokens"),
    "absurd-max-tokens": ({"model": MODEL, "prompt": "hi", "max_tokens": 10**8}, 400, "max_tokens"),
    "bad-temperature": (
        {"model": MODEL, "prompt": "hi", "max_tokens": 3, "temperature": -1},
        400,
        "temperature",
    ),
    "bad-top-p": ({"model": MODEL, "prompt": "hi", "max_tokens": 3, "top_p": 2}, 400, "top_p"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_openai_style_4xx(http: httpx.Client, case: str) -> None:
    payload, status, word = BAD_REQUESTS[case]
    if isinstance(payload, str):
        response = http.post(
            "/v1/completions", content=payload, headers={"content-type": "application/json"}
        )
    else:
        response = http.post("/v1/completions", json=payload)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert word in error["message"].lower()
    assert error["type"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}])
def test_requests_without_the_key_are_refused_before_anything_else(
    served: str, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=served, headers=headers, timeout=30) as client:
        models = client.get("/v1/models")
        # Malformed and oversized bodies too: the key is checked before parsing or routing.
        bad = client.post(
            "/v1/completions", content="{", headers={"content-type": "application/json"}
        )
        huge = client.post("/v1/completions", json={"model": MODEL, "prompt": "x " * 9000})
    for response in (models, bad, huge):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"


CHAT = [{"role": "user", "content": "hi"}]
LIMITS = TINY.request_limits
OVER_LIMIT = {
    "completions-n": ("/v1/completions", {"n": LIMITS.n + 1}, "n"),
    "completions-best-of": ("/v1/completions", {"best_of": LIMITS.best_of + 1}, "best_of"),
    "completions-logprobs": ("/v1/completions", {"logprobs": LIMITS.logprobs + 1}, "logprobs"),
    "completions-prompt-logprobs": (
        "/v1/completions",
        {"prompt_logprobs": LIMITS.prompt_logprobs + 1},
        "prompt_logprobs",
    ),
    "completions-max-tokens": (
        "/v1/completions",
        {"max_tokens": LIMITS.max_tokens + 1},
        "max_tokens",
    ),
    "chat-n": ("/v1/chat/completions", {"n": LIMITS.n + 1}, "n"),
    "chat-top-logprobs": (
        "/v1/chat/completions",
        {"logprobs": True, "top_logprobs": LIMITS.logprobs + 1},
        "top_logprobs",
    ),
    "chat-prompt-logprobs": (
        "/v1/chat/completions",
        {"prompt_logprobs": LIMITS.prompt_logprobs + 1},
        "prompt_logprobs",
    ),
    "chat-max-tokens": (
        "/v1/chat/completions",
        {"max_tokens": LIMITS.max_tokens + 1},
        "max_tokens",
    ),
    "chat-max-completion-tokens": (
        "/v1/chat/completions",
        {"max_completion_tokens": LIMITS.max_tokens + 1},
        "max_completion_tokens",
    ),
}


@pytest.mark.parametrize("case", sorted(OVER_LIMIT))
def test_requests_over_a_limit_get_400_naming_the_field(http: httpx.Client, case: str) -> None:
    """The spec's request limits are rendered into the config and enforced by the server."""
    path, over, field = OVER_LIMIT[case]
    base = {"model": MODEL, "max_tokens": 2}
    base |= {"messages": CHAT} if "chat" in path else {"prompt": PROMPT}
    response = http.post(path, json=base | over)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field
    assert error["type"] == "invalid_request_error"
    assert f"{field} must be at most" in error["message"]


def test_requests_at_the_limits_are_served(oai: openai.OpenAI) -> None:
    """The caps are bounds, not bans: n and logprobs at their limits still get an answer."""
    many = oai.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=2, n=LIMITS.n, logprobs=3, temperature=0.5
    )
    assert len(many.choices) == LIMITS.n
    chat = oai.chat.completions.create(
        model=MODEL, messages=CHAT, max_tokens=2, logprobs=True, top_logprobs=LIMITS.logprobs
    )
    assert len(chat.choices[0].logprobs.content[0].top_logprobs) == LIMITS.logprobs
