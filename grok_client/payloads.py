"""Request bodies for the completion and chat endpoints, from the clients' keyword arguments.

Only what the caller set is sent, so the server's own defaults (max_tokens, temperature...)
apply otherwise, exactly as for a request made with curl. Both clients build bodies here so they
cannot drift apart. The model is added by the client, which may have to discover it first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grok_client.types import ChatMessage

Messages = str | Sequence[ChatMessage | Mapping[str, Any]]


@dataclass(frozen=True)
class Sampling:
    """The generation options both endpoints share; None means "server default"."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | Sequence[str] | None = None
    seed: int | None = None
    n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        fields = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": self.stop if self.stop is None or isinstance(self.stop, str) else [*self.stop],
            "seed": self.seed,
            "n": self.n,
        }
        return {name: value for name, value in fields.items() if value is not None}


def completion_body(
    prompt: str | Sequence[int],
    sampling: Sampling,
    *,
    logprobs: int | None,
    stream: bool,
    include_usage: bool,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The body of `POST /v1/completions`; a prompt may be text or token ids."""
    body: dict[str, Any] = {
        "prompt": prompt if isinstance(prompt, str) else [*prompt],
        **sampling.to_dict(),
    }
    if logprobs is not None:
        body["logprobs"] = logprobs
    return _finish(body, stream, include_usage, extra_body)


def chat_body(
    messages: Messages,
    sampling: Sampling,
    *,
    logprobs: int | None,
    stream: bool,
    include_usage: bool,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The body of `POST /v1/chat/completions`.

    `messages` may be a single string (one user turn). `logprobs=N` asks for the sampled token's
    log-probability plus the N most likely alternatives, as `logprobs=N` does for completions;
    chat spells that `logprobs: true, top_logprobs: N`.
    """
    body: dict[str, Any] = {"messages": _messages(messages), **sampling.to_dict()}
    if logprobs is not None:
        body["logprobs"] = True
        body["top_logprobs"] = logprobs
    return _finish(body, stream, include_usage, extra_body)


def _messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [m.to_dict() if isinstance(m, ChatMessage) else dict(m) for m in messages]


def _finish(
    body: dict[str, Any],
    stream: bool,
    include_usage: bool,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Add the streaming switches, then the caller's server-specific extras (which win)."""
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    return {**body, **(extra_body or {})}
