"""Typed results, parsed from the server's JSON.

Parsing is deliberately tolerant: OpenAI-compatible servers (vLLM, Ray Serve LLM) add fields of
their own and leave optional ones out, and a client that rejected either would break on every
server upgrade. Known fields become attributes; each object's full JSON stays in `raw`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grok_client.errors import GrokError


@dataclass(frozen=True)
class Usage:
    """Token counts of one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> Usage | None:
        if not isinstance(data, dict):
            return None
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            total_tokens=int(data.get("total_tokens") or 0),
        )


@dataclass(frozen=True)
class Model:
    """One entry of `/v1/models`."""

    id: str
    created: int | None = None
    owned_by: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        return cls(
            id=str(data.get("id", "")),
            created=data.get("created"),
            owned_by=data.get("owned_by"),
            raw=data,
        )


@dataclass(frozen=True)
class Logprobs:
    """Per-token log-probabilities, in one shape for completions and chat.

    The two endpoints report them differently (parallel lists vs. a list of token objects); tests
    and tools comparing the two want one, so chat's is converted. `text_offset` is empty for chat,
    which does not report it.
    """

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any) -> Logprobs | None:
        if not isinstance(data, dict):
            return None
        if "content" in data:
            entries = [entry for entry in data.get("content") or [] if isinstance(entry, dict)]
            return cls(
                tokens=[str(entry.get("token", "")) for entry in entries],
                token_logprobs=[entry.get("logprob") for entry in entries],
                top_logprobs=[
                    {str(top.get("token")): top.get("logprob") for top in entry["top_logprobs"]}
                    if entry.get("top_logprobs")
                    else None
                    for entry in entries
                ],
            )
        return cls(
            tokens=list(data.get("tokens") or []),
            token_logprobs=list(data.get("token_logprobs") or []),
            top_logprobs=list(data.get("top_logprobs") or []),
            text_offset=list(data.get("text_offset") or []),
        )


@dataclass(frozen=True)
class Choice:
    """One generated continuation of a completion request."""

    index: int
    text: str
    finish_reason: str | None = None
    logprobs: Logprobs | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Choice:
        return cls(
            index=int(data.get("index") or 0),
            text=data.get("text") or "",
            finish_reason=data.get("finish_reason"),
            logprobs=Logprobs.from_dict(data.get("logprobs")),
        )


@dataclass(frozen=True)
class Completion:
    """The answer to `POST /v1/completions`."""

    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The first choice's text: what a caller asking for one completion wants."""
        return self.choices[0].text if self.choices else ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(
            id=str(data.get("id", "")),
            model=str(data.get("model", "")),
            choices=[Choice.from_dict(c) for c in _dicts(data.get("choices"))],
            usage=Usage.from_dict(data.get("usage")),
            created=data.get("created"),
            raw=data,
        )


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation; also accepted as input by `chat()`."""

    role: str
    content: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}

    @classmethod
    def from_dict(cls, data: Any) -> ChatMessage:
        data = data if isinstance(data, dict) else {}
        return cls(role=str(data.get("role") or "assistant"), content=data.get("content"))


@dataclass(frozen=True)
class ChatChoice:
    """One generated reply of a chat request."""

    index: int
    message: ChatMessage
    finish_reason: str | None = None
    logprobs: Logprobs | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatChoice:
        return cls(
            index=int(data.get("index") or 0),
            message=ChatMessage.from_dict(data.get("message")),
            finish_reason=data.get("finish_reason"),
            logprobs=Logprobs.from_dict(data.get("logprobs")),
        )


@dataclass(frozen=True)
class ChatCompletion:
    """The answer to `POST /v1/chat/completions`."""

    id: str
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The first choice's message content ("" when the server sent none)."""
        return (self.choices[0].message.content or "") if self.choices else ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatCompletion:
        return cls(
            id=str(data.get("id", "")),
            model=str(data.get("model", "")),
            choices=[ChatChoice.from_dict(c) for c in _dicts(data.get("choices"))],
            usage=Usage.from_dict(data.get("usage")),
            created=data.get("created"),
            raw=data,
        )


@dataclass(frozen=True)
class StreamChunk:
    """One piece of a streamed answer: one choice's text delta from one server event.

    Completion and chat events are flattened to the same type (chat's `delta.content` becomes
    `text`), so code printing a stream does not care which endpoint produced it. The usage event
    that ends a stream when usage was requested becomes a chunk with empty text and `usage` set.
    """

    text: str
    index: int = 0
    finish_reason: str | None = None
    role: str | None = None
    logprobs: Logprobs | None = None
    usage: Usage | None = None
    id: str = ""
    model: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def list_from_event(cls, event: dict[str, Any]) -> list[StreamChunk]:
        """The chunks of one server event: one per choice, or one for a usage-only event."""
        common: dict[str, Any] = {
            "id": str(event.get("id", "")),
            "model": str(event.get("model", "")),
            "usage": Usage.from_dict(event.get("usage")),
            "raw": event,
        }
        choices = _dicts(event.get("choices"))
        if not choices:
            return [cls(text="", **common)] if common["usage"] else []
        chunks = []
        for choice in choices:
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            chunks.append(
                cls(
                    text=(delta.get("content") if "delta" in choice else choice.get("text")) or "",
                    index=int(choice.get("index") or 0),
                    finish_reason=choice.get("finish_reason"),
                    role=delta.get("role"),
                    logprobs=Logprobs.from_dict(choice.get("logprobs")),
                    **common,
                )
            )
        return chunks


def parse_object(text: str, what: str) -> dict[str, Any]:
    """The JSON object a successful response or stream event must be, or a GrokError saying so."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise GrokError(f"{what} is not a JSON object: {text[:200]!r}")
    return data


def parse_models(data: Mapping[str, Any]) -> list[Model]:
    """The models of a `/v1/models` answer, in the server's order."""
    return [Model.from_dict(m) for m in _dicts(data.get("data"))]


def first_model_id(models: list[Model]) -> str:
    """The model a request without one goes to: the server's first (Ray Serve's only, usually)."""
    if not models:
        raise GrokError("the server lists no models (GET /v1/models); pass model= explicitly")
    return models[0].id


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list, skipping anything else a server might have put there."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
