"""Server-side caps on what one request may ask of a replica.

Without them any client can ask for `n: 1000` (a thousand sequences from one request), a
thousand log-probs per token, or log-probs of every prompt position, and on an 8-GPU replica
one such request starves every other. The caps are checked once per request, on the JSON body,
before the request is routed: a request over a cap gets a 400 with an OpenAI error body whose
`param` names the field. Nothing runs per generated token.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The routes whose bodies carry sampling parameters.
LIMITED_PATHS = frozenset({"/v1/completions", "/v1/chat/completions"})


@dataclass(frozen=True)
class RequestLimits:
    """Largest value each request field may have (sized for an 8-GPU Grok-1 replica that runs
    at most 64 sequences at once, `max_num_seqs`, with an 8192-token context)."""

    # Sequences per request: 8 keeps one request at an eighth of the batch at most.
    n: int = 8
    best_of: int = 8
    # Top log-probs per generated token (completions `logprobs`, chat `top_logprobs`): 20 is
    # OpenAI's own maximum and vLLM's default `max_logprobs`.
    logprobs: int = 20
    # Top log-probs per prompt token (vLLM's `prompt_logprobs`): any value makes the engine
    # compute full-vocabulary (131072) logits for every prompt position, so keep k small.
    prompt_logprobs: int = 5
    # Output tokens (`max_tokens`, chat's `max_completion_tokens`): half the context, so a
    # prompt of half the context still fits, and at the ~20 tokens/s a sequence gets in a full
    # batch the longest stream ends in ~200 s, well inside the 600 s request timeout.
    max_tokens: int = 4096

    def to_args(self) -> dict[str, int]:
        return asdict(self)

    def violation(self, body: dict[str, Any]) -> tuple[str, str] | None:
        """(field, message) for the first field of `body` over its cap, else None."""
        checks = (
            ("n", self.n),
            ("best_of", self.best_of),
            ("logprobs", self.logprobs),
            ("top_logprobs", self.logprobs),
            ("prompt_logprobs", self.prompt_logprobs),
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_tokens),
        )
        for name, cap in checks:
            value = body.get(name)
            # Booleans (chat's `logprobs: true`) and non-integers are left to the API's own
            # validation, which answers them with its usual 400.
            if type(value) is int and value > cap:
                return name, f"{name} must be at most {cap} on this server (got {value})"
        return None


def _bad_request(field: str, message: str) -> JSONResponse:
    error = {"message": message, "type": "invalid_request_error", "param": field, "code": 400}
    return JSONResponse({"error": error}, status_code=400)


class RequestLimitsMiddleware:
    """Plain ASGI middleware enforcing `RequestLimits` on the OpenAI generation routes.

    It reads the body (the app would read it anyway), checks it, and replays it to the app
    unchanged; a body that is not a JSON object is passed on for the app to reject as usual.
    """

    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (scope["path"] not in LIMITED_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        found = self.limits.violation(parsed) if isinstance(parsed, dict) else None
        if found is not None:
            await _bad_request(*found)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
