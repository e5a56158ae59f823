"""The exceptions grok_client raises, and how server answers and network failures become them.

Callers react differently to a network blip (retry later), a rejected request (fix the request)
and a bad key (fix the configuration), so each gets its own type, all under `GrokError` for code
that only wants to catch "anything from the SDK". Status errors keep what the server said (its
message, error type and code) because that text is what a person needs to see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import httpx


class GrokError(Exception):
    """Base class of every error the SDK raises."""


class APIConnectionError(GrokError):
    """The server could not be reached, or the connection broke before the answer was complete."""


class APITimeoutError(APIConnectionError):
    """The server did not accept the connection or answer within the client's timeout."""


class APIStatusError(GrokError):
    """The server answered with an error status.

    `message`, `type` and `code` are the server's own words (from its error body, or its plain-text
    body); `body` is the whole decoded body, for anything more a caller wants to inspect.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        type: str | None = None,
        code: int | str | None = None,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, message, type, code, body)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.code = code
        self.body = body
        self.headers = httpx.Headers(headers or {})

    def __str__(self) -> str:
        try:
            phrase = HTTPStatus(self.status_code).phrase
        except ValueError:
            phrase = ""
        status = f"{self.status_code} {phrase}".rstrip()
        if not self.message or self.message.lower() == phrase.lower():
            return status
        return f"{status}: {self.message}"


class BadRequestError(APIStatusError):
    """400 or 422: the request is malformed or invalid; sending it again unchanged cannot help."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but not allowed to do this."""


class NotFoundError(APIStatusError):
    """404: no such route or model on this server."""


class RateLimitError(APIStatusError):
    """429: the server asks the client to slow down (retried automatically)."""


class ServiceUnavailableError(APIStatusError):
    """503: the server is overloaded or starting up (retried automatically)."""


class InternalServerError(APIStatusError):
    """Any other 5xx: the server failed while handling a request it accepted."""


_CLASS_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception type for an HTTP status; statuses without their own type get the base one."""
    if status_code in _CLASS_BY_STATUS:
        return _CLASS_BY_STATUS[status_code]
    return InternalServerError if status_code >= 500 else APIStatusError


def raise_for_status(response: httpx.Response) -> None:
    """Raise the typed error for a non-2xx response (its body must already be read)."""
    if response.is_success:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    message, type_, code = _describe(body)
    cls = status_error_class(response.status_code)
    raise cls(response.status_code, message, type_, code, body, headers=response.headers)


def error_from_event(event: Mapping[str, Any]) -> APIStatusError:
    """The error an error event inside a stream carries.

    The HTTP status was 200 by the time the stream started, so the status is taken from the
    event's `code` when that is one (vLLM and Ray Serve put it there), else 500: the server failed
    after accepting the request.
    """
    message, type_, code = _describe(dict(event))
    status = code if isinstance(code, int) and 400 <= code <= 599 else 500
    return status_error_class(status)(status, message, type_, code, dict(event))


def _describe(body: Any) -> tuple[str, str | None, int | str | None]:
    """(message, type, code) from any of the error shapes servers send.

    OpenAI, vLLM and Ray Serve nest them under "error"; older vLLM puts them at the top level;
    FastAPI's own errors (unknown route, validation) say {"detail": ...}; proxies send text.
    """
    if isinstance(body, dict):
        error = body.get("error") or body
        if isinstance(error, str):
            return error, None, None
        if isinstance(error, dict) and "message" in error:
            code = error.get("code")
            type_ = error.get("type")
            return (
                str(error["message"]),
                type_ if isinstance(type_, str) else None,
                code if isinstance(code, int | str) and not isinstance(code, bool) else None,
            )
        if "detail" in body:
            return _detail_message(body["detail"]), None, None
        return json.dumps(body), None, None
    text = body if isinstance(body, str) else json.dumps(body)
    return next((line.strip() for line in text.splitlines() if line.strip()), ""), None, None


def _detail_message(detail: Any) -> str:
    """FastAPI's `detail`: a string, or a list of validation problems each with a `msg`."""
    if isinstance(detail, list):
        return "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        )
    return str(detail)


@contextmanager
def translating_transport_errors(url: httpx.URL | str) -> Iterator[None]:
    """Re-raise httpx's network failures as the SDK's own types, naming the URL that failed."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"timed out talking to {url} ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise APIConnectionError(f"cannot reach {url}: {exc or type(exc).__name__}") from exc
