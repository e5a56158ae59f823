"""OpenAI-style bodies for the ingress's own HTTP errors.

Ray Serve LLM already answers engine and validation errors as `{"error": {...}}`, but errors
raised by FastAPI routing inside its ingress (an unknown model is a 404 `HTTPException`) come
out as FastAPI's `{"detail": ...}`, which OpenAI clients cannot read. This handler gives them
the same shape as every other error.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


async def _openai_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error = {
        "message": str(exc.detail),
        "type": "invalid_request_error" if exc.status_code < 500 else "server_error",
        "param": None,
        "code": exc.status_code,
    }
    return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)


def add_openai_error_bodies(app: FastAPI) -> None:
    """Render FastAPI/Starlette HTTP exceptions as OpenAI error objects."""
    app.add_exception_handler(HTTPException, _openai_http_error)
