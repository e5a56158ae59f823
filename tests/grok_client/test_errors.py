"""Error statuses become typed exceptions carrying the server's own message, type and code."""

from __future__ import annotations

import pytest

from grok_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    GrokClient,
    GrokError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from tests.grok_client.conftest import FAST
from tests.grok_client.fake_openai_server import FakeOpenAIServer, Reply, error_body


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIStatusError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, ServiceUnavailableError),
    ],
)
def test_status_maps_to_its_exception(
    server: FakeOpenAIServer, status: int, expected: type[APIStatusError]
) -> None:
    server.script(Reply(status=status, body=error_body(f"said {status}", "SomeError", status)))
    with (
        GrokClient(server.url, model="grok-1", max_retries=0, **FAST) as client,
        pytest.raises(APIStatusError) as caught,
    ):
        client.complete("x")
    error = caught.value
    assert type(error) is expected
    assert isinstance(error, GrokError)
    assert (error.status_code, error.message, error.type, error.code) == (
        status,
        f"said {status}",
        "SomeError",
        status,
    )
    assert error.body == error_body(f"said {status}", "SomeError", status)


def test_str_reads_status_and_server_message(client: GrokClient, server: FakeOpenAIServer) -> None:
    server.script(Reply(status=401, body=error_body("Invalid API key", "AuthenticationError", 401)))
    with pytest.raises(AuthenticationError) as caught:
        client.models()
    assert str(caught.value) == "401 Unauthorized: Invalid API key"


def test_top_level_error_shape(client: GrokClient, server: FakeOpenAIServer) -> None:
    body = {"object": "error", "message": "max_tokens too big", "type": "invalid", "code": "m1"}
    server.script(Reply(status=400, body=body))
    with pytest.raises(BadRequestError) as caught:
        client.complete("x", model="grok-1")
    assert (caught.value.message, caught.value.type, caught.value.code) == (
        "max_tokens too big",
        "invalid",
        "m1",
    )


def test_plain_text_body(client: GrokClient, server: FakeOpenAIServer) -> None:
    server.script(Reply(status=500, body="\nupstream exploded\nsecond line\n"))
    with pytest.raises(InternalServerError) as caught:
        client.models()
    assert str(caught.value) == "500 Internal Server Error: upstream exploded"
    assert (caught.value.type, caught.value.code) == (None, None)
    assert caught.value.body == "\nupstream exploded\nsecond line\n"


def test_fastapi_detail_and_empty_bodies(client: GrokClient, server: FakeOpenAIServer) -> None:
    validation = {"detail": [{"loc": ["body", "prompt"], "msg": "Field required"}]}
    server.script(
        Reply(status=422, body=validation),
        Reply(status=404, body={"detail": "Not Found"}),
        Reply(status=418, body=""),
    )
    with pytest.raises(BadRequestError, match="^422 Unprocessable Entity: Field required$"):
        client.complete("x", model="grok-1")
    with pytest.raises(NotFoundError, match="^404 Not Found$"):
        client.models()
    with pytest.raises(APIStatusError, match="^418 I'm a Teapot$"):
        client.models()
