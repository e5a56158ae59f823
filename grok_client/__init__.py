"""Python SDK for grok-serve, on the `openai` package.

    from grok_client import GrokClient

    with GrokClient() as client:  # GROK_BASE_URL / GROK_API_KEY, else OPENAI_*
        print(client.complete("The answer is", max_tokens=8).choices[0].text)
        for piece in client.stream_chat("Hello!"):
            print(piece, end="", flush=True)

Results are openai's types; errors are openai's (re-exported here).
"""

from openai import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OpenAIError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

from grok_client.client import AsyncGrokClient, GrokClient
from grok_client.params import Params
from grok_client.settings import CHAT_STOP, DEFAULT_BASE_URL, Settings
from grok_client.streams import AsyncTextStream, TextStream

__all__ = [
    "CHAT_STOP",
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncGrokClient",
    "AsyncTextStream",
    "AuthenticationError",
    "BadRequestError",
    "GrokClient",
    "InternalServerError",
    "NotFoundError",
    "OpenAIError",
    "Params",
    "PermissionDeniedError",
    "RateLimitError",
    "Settings",
    "TextStream",
    "UnprocessableEntityError",
]
