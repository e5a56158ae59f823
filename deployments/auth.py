"""Optional bearer-token auth in front of the OpenAI routes.

The key comes from an environment variable of the ingress replica (in Kubernetes, a Secret
mounted as that variable; never a literal in a config file). It is checked in the ingress
before any route runs, so a request with a wrong or missing key never reaches the engine.
"""

from __future__ import annotations

import hmac
import logging
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.base import RequestResponseEndpoint

logger = logging.getLogger("ray.serve")

DEFAULT_API_KEY_ENV = "GROK_SERVE_API_KEY"


def _unauthorized(message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "authentication_error", "code": 401}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def add_api_key_auth(app: FastAPI, env_var: str) -> None:
    """Require `Authorization: Bearer <$env_var>` on every request when that variable is set.

    The variable is read per request in the replica, so rotating the Secret and restarting
    replicas takes effect without rebuilding the app; unset or empty disables auth.
    """

    @app.middleware("http")
    async def check_api_key(request: Request, call_next: RequestResponseEndpoint) -> Response:
        expected = os.environ.get(env_var, "")
        if not expected:
            return await call_next(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            logger.warning("rejected a request with a wrong API key from %s", request.client)
            return _unauthorized("Invalid API key")
        return await call_next(request)
