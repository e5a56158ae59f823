"""The `grok` command, in-process through `main()` and once as `python -m grok_client`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grok_client.cli import main
from tests.grok_client.fake_openai_server import CANNED_TEXT, FakeOpenAIServer, Reply, error_body

REPO = Path(__file__).resolve().parents[2]
UNAUTHORIZED = Reply(status=401, body=error_body("Invalid API key", "AuthenticationError", 401))


def test_models(server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.model_ids = ("grok-1", "grok-2")
    assert main(["--base-url", server.url, "models"]) == 0
    assert capsys.readouterr().out == "grok-1\ngrok-2\n"


def test_complete_sends_options(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["complete", "The answer is", "--max-tokens", "5", "--temperature", "0.5"]
    argv += ["--stop", "\n", "--stop", ".", "--seed", "3", "--base-url", server.url]
    assert main(argv) == 0
    assert capsys.readouterr().out == CANNED_TEXT + "\n"
    assert server.requests_to("/v1/completions")[0].body == {
        "model": "grok-1",
        "prompt": "The answer is",
        "max_tokens": 5,
        "temperature": 0.5,
        "stop": ["\n", "."],
        "seed": 3,
    }


def test_streamed_chat_with_system_and_env(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROK_BASE_URL", server.url)
    monkeypatch.setenv("GROK_API_KEY", "sk-env")
    assert main(["--model", "grok-x", "chat", "Hi", "--system", "Be brief.", "--stream"]) == 0
    assert capsys.readouterr().out == CANNED_TEXT + "\n"
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-env"
    assert request.body["model"] == "grok-x"
    assert request.body["stream"] is True
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_streamed_complete(server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base-url", server.url, "complete", "x", "--stream"]) == 0
    assert capsys.readouterr().out == CANNED_TEXT + "\n"


def test_error_is_one_line_and_exit_1(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(UNAUTHORIZED)
    assert main(["--base-url", server.url, "--api-key", "bad", "models"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "grok: error: 401 Unauthorized: Invalid API key\n"
    assert len(server.requests) == 1


def test_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base-url", "ftp://nowhere", "models"]) == 1
    assert capsys.readouterr().err.startswith("grok: error: base URL must start with http")


def _grok(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROK_")}
    return subprocess.run(
        [sys.executable, "-m", "grok_client", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_python_m_grok_client(server: FakeOpenAIServer) -> None:
    ok = _grok("--base-url", server.url, "models")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "grok-1\n", "")
    server.script(UNAUTHORIZED)
    failed = _grok("--base-url", server.url, "models")
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr == "grok: error: 401 Unauthorized: Invalid API key\n"
