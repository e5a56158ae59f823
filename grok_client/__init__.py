"""Python SDK for grok-serve's OpenAI-compatible API (Ray Serve LLM in front of vLLM).

    from grok_client import GrokClient

    with GrokClient("http://127.0.0.1:8000") as client:
        print(client.complete("The answer is", max_tokens=8).text)
        for chunk in client.stream_chat("Hello!"):
            print(chunk.text, end="", flush=True)

`AsyncGrokClient` offers the same API for asyncio. Every error is a `GrokError`.
"""

from grok_client.async_client import AsyncGrokClient
from grok_client.client import GrokClient
from grok_client.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MODEL_ENV,
)
from grok_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GrokError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from grok_client.streams import AsyncStream, Stream
from grok_client.types import (
    ChatChoice,
    ChatCompletion,
    ChatMessage,
    Choice,
    Completion,
    Logprobs,
    Model,
    StreamChunk,
    Usage,
)

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "MODEL_ENV",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncGrokClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatChoice",
    "ChatCompletion",
    "ChatMessage",
    "Choice",
    "Completion",
    "GrokClient",
    "GrokError",
    "InternalServerError",
    "Logprobs",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Stream",
    "StreamChunk",
    "Usage",
]
