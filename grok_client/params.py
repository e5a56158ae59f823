"""Per-call options, one TypedDict for every method of both clients (openai-python style).

Only what the caller sets is sent, so the server's defaults apply otherwise; chat requests get
the Grok chat stop unless the caller passes `stop` (None: no stop at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import httpx2

from grok_client.settings import CHAT_STOP

Messages = str | Sequence[Mapping[str, Any]]


class Params(TypedDict, total=False):
    """Options of one request. `logprobs=N`: each token's log-probability and its N likeliest
    alternatives (chat spells it `logprobs`/`top_logprobs`; converted here). `extra_body`: vLLM
    fields such as `top_k` or `prompt_logprobs`. `timeout`: this request's, in seconds."""

    model: str
    max_tokens: int
    temperature: float
    top_p: float
    stop: str | list[str] | None
    seed: int
    n: int
    logprobs: int
    echo: bool
    extra_body: dict[str, Any]
    timeout: float | httpx2.Timeout


def completion_args(prompt: str | Sequence[int], model: str, params: Params) -> dict[str, Any]:
    """Keyword arguments for `openai.completions.create`."""
    args: dict[str, Any] = {**params, "model": model}
    args["prompt"] = prompt if isinstance(prompt, str) else list(prompt)
    return args


def chat_args(messages: Messages, model: str, params: Params) -> dict[str, Any]:
    """Keyword arguments for `openai.chat.completions.create`; a string is one user turn."""
    args: dict[str, Any] = {"stop": CHAT_STOP, **params, "model": model}
    if args["stop"] is None:
        del args["stop"]
    if "logprobs" in args:
        args["top_logprobs"] = args.pop("logprobs")
        args["logprobs"] = True
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    args["messages"] = [dict(m) for m in messages]
    return args


def streaming(args: dict[str, Any]) -> dict[str, Any]:
    """`args` for a stream that ends with a usage chunk."""
    return {**args, "stream": True, "stream_options": {"include_usage": True}}
