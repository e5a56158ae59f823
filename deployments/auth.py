"""Optional bearer-token auth in front of the OpenAI routes.

The key comes from an environment variable of the serving replica (in Kubernetes, a Secret
mounted as that variable; never a literal in a config file). It is checked before any route
runs, so a request with a wrong or missing key never reaches the engine.

It is a plain ASGI middleware, not Starlette's `@app.middleware("http")`: that one
(`BaseHTTPMiddleware`) runs the app in a task and pipes every streamed chunk through an extra
memory stream, which on a streaming LLM endpoint costs CPU on every token. This one looks at
the request's headers once and then hands the untouched `receive`/`send` to the app.
"""

from __future__ import annotations

import hmac
import logging
import os

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("ray.serve")

DEFAULT_API_KEY_ENV = "GROK_SERVE_API_KEY"


def _unauthorized(message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "authentication_error", "code": 401}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


class ApiKeyAuth:
    """Require `Authorization: Bearer <$env_var>` on every HTTP request when that variable is set.

    The variable is read per request in the replica, so rotating the Secret and restarting
    replicas takes effect without rebuilding the app; unset or empty disables auth.
    """

    def __init__(self, app: ASGIApp, env_var: str = DEFAULT_API_KEY_ENV) -> None:
        self.app = app
        self.env_var = env_var

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        expected = os.environ.get(self.env_var, "") if scope["type"] == "http" else ""
        if not expected:
            await self.app(scope, receive, send)
            return
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            response = _unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
        elif not hmac.compare_digest(token.strip().encode(), expected.encode()):
            logger.warning("rejected a request with a wrong API key from %s", scope.get("client"))
            response = _unauthorized("Invalid API key")
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
