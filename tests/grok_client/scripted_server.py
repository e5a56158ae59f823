"""A scripted OpenAI-style server on 127.0.0.1 for what the real one cannot be made to do: answer
after 75 s, or fail with 502/503/504 before succeeding. It counts the requests it receives."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "grok-1-scripted"
TEXT = " forty-two"


@dataclass
class Reply:
    """One answer to a POST: `status` (an error body unless 200), after `delay` seconds."""

    status: int = 200
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class ScriptedServer:
    """`with ScriptedServer(Reply(502), Reply()) as s:`; POSTs take the replies in order (then
    200s); GET /v1/models lists one model."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.script = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def take(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.posts.append(body)
            return self.replies.pop(0) if self.replies else Reply()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out hang up on purpose; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._send(
            200,
            {
                "object": "list",
                "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "xai"}],
            },
        )

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        reply = self.server.script.take(body)  # type: ignore[attr-defined]
        time.sleep(reply.delay)
        if reply.status != 200:
            error = {"message": f"scripted {reply.status}", "type": "Error", "code": reply.status}
            self._send(reply.status, {"error": error}, reply.headers)
            return
        choice = {"index": 0, "text": TEXT, "logprobs": None, "finish_reason": "length"}
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        self._send(
            200,
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [choice],
                "usage": usage,
            },
        )

    def _send(self, status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
