"""A scripted stand-in for the OpenAI-compatible server, over real HTTP on 127.0.0.1.

The SDK is tested through its real network path (httpx, sockets, chunked SSE), not with patched
internals, so what passes here is what happens against Ray Serve. By default the server answers
like a healthy one serving "grok-1"; a test scripts anything else by queueing `Reply`s, which are
used first, in order, by the requests they match. Every request is recorded, headers included.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CANNED_PIECES = ["Hello", " from", " Grok", "."]
CANNED_TEXT = "".join(CANNED_PIECES)
CANNED_USAGE = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


@dataclass
class Reply:
    """One scripted answer.

    `body`: a dict/list is sent as JSON, a str as text/plain, None as nothing. `events`: send an
    SSE stream instead (dicts as JSON data, strings as data as they are, bytes as raw lines),
    then `data: [DONE]` when `done`; with `complete=False` the connection is cut after the
    events, mid chunked body. `disconnect`: close the connection without answering. `delay`:
    seconds to wait before answering. `path`: only a request to this path takes this reply.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Any] | None = None
    done: bool = True
    complete: bool = True
    disconnect: bool = False
    delay: float = 0.0
    path: str | None = None


@dataclass(frozen=True)
class Request:
    """A request the server received; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def error_body(message: str, type_: str = "BadRequestError", code: int | None = 400) -> dict:
    """An error body the way vLLM and Ray Serve nest it."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def completion_event(text: str, finish_reason: str | None = None, index: int = 0) -> dict:
    """One chunk of a streamed completion."""
    choice = {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
    return {"id": "cmpl-1", "object": "text_completion", "model": "grok-1", "choices": [choice]}


def chat_event(
    content: str | None, finish_reason: str | None = None, role: str | None = None
) -> dict:
    """One chunk of a streamed chat answer (content None: a delta without content)."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": "chat-1",
        "object": "chat.completion.chunk",
        "model": "grok-1",
        "choices": [choice],
    }


def usage_event(usage: dict[str, int] = CANNED_USAGE) -> dict:
    """The usage-only chunk that ends a stream when stream_options.include_usage is set."""
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": "grok-1",
        "choices": [],
        "usage": usage,
    }


class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer() as server:`; requests go to `server.url`."""

    def __init__(self, model_ids: tuple[str, ...] = ("grok-1",)) -> None:
        self.model_ids = model_ids
        self.requests: list[Request] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._httpd = _Server(self)
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def script(self, *replies: Reply) -> None:
        """Queue replies, used before the default behaviour."""
        with self._lock:
            self._replies.extend(replies)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def take(self, request: Request) -> Reply:
        """Record `request` and choose its reply: the first queued one that matches, else the
        default."""
        with self._lock:
            self.requests.append(request)
            for i, reply in enumerate(self._replies):
                if reply.path in (None, request.path):
                    return self._replies.pop(i)
        return self._default(request)

    def _default(self, request: Request) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if request.method == "GET" and request.path == "/v1/models":
            models = [
                {"id": m, "object": "model", "created": 1, "owned_by": "xai"}
                for m in self.model_ids
            ]
            return Reply(body={"object": "list", "data": models})
        if request.method == "POST" and request.path == "/v1/completions":
            if body.get("stream"):
                return Reply(events=self._stream(body, completion_event))
            choice = {"index": 0, "text": CANNED_TEXT, "logprobs": None, "finish_reason": "stop"}
            return Reply(body=self._answer(body, "text_completion", choice))
        if request.method == "POST" and request.path == "/v1/chat/completions":
            if body.get("stream"):
                return Reply(
                    events=[chat_event("", role="assistant"), *self._stream(body, chat_event)]
                )
            message = {"role": "assistant", "content": CANNED_TEXT}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            return Reply(body=self._answer(body, "chat.completion", choice))
        return Reply(status=404, body={"detail": "Not Found"})

    @staticmethod
    def _answer(body: dict, kind: str, choice: dict) -> dict:
        return {
            "id": "res-1",
            "object": kind,
            "created": 1700000000,
            "model": body.get("model"),
            "choices": [choice],
            "usage": CANNED_USAGE,
            "server_extra": {"kept": True},
        }

    @staticmethod
    def _stream(body: dict, event: Any) -> list[dict]:
        events = [event(piece) for piece in CANNED_PIECES]
        events.append(event("" if event is completion_event else None, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(usage_event())
        return events


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeOpenAIServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (timeouts, streams closed early, keep-alives dropped):
        tests do that on purpose. Anything else is a bug in the fake and is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection does not hold a thread forever

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Request(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        assert isinstance(self.server, _Server)
        reply = self.server.fake.take(request)
        time.sleep(reply.delay)
        if reply.disconnect:
            self.close_connection = True
        elif reply.events is not None:
            self._send_events(reply)
        else:
            self._send_body(reply)

    def _send_body(self, reply: Reply) -> None:
        if reply.body is None:
            payload, kind = b"", "text/plain"
        elif isinstance(reply.body, str):
            payload, kind = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, kind = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_events(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for data in _event_lines(reply):
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        if reply.complete:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True


def _event_lines(reply: Reply) -> Iterator[bytes]:
    for event in reply.events or []:
        if isinstance(event, bytes):
            yield event
        else:
            yield f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode()
    if reply.done:
        yield b"data: [DONE]\n\n"
