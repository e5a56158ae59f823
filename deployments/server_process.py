"""Waiting for, and stopping, an OpenAI-compatible server started as a child process.

The test fixture and the serving benchmark start servers the same way (`serve_local`, or
vLLM's own server) and need the same two things: to know when the engine, not just the HTTP
front, answers, and to stop the whole process group even if it ignores the polite signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx


def wait_until_serving(
    url: str,
    model: str,
    process: subprocess.Popen,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> None:
    """Return once a one-token completion succeeds; RuntimeError if the process exits or
    `timeout` seconds pass first (the ingress answers /v1/models before the engine is up)."""
    probe = {"model": model, "prompt": "hi", "max_tokens": 1}
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not serving after {timeout} s")
        try:
            response = httpx.post(f"{url}/v1/completions", json=probe, headers=headers, timeout=30)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)


def stop_server(process: subprocess.Popen, timeout: float = 180) -> None:
    """Ctrl-C the server (its own clean shutdown), then kill its process group if it hangs.

    The process must have been started with `start_new_session=True`."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
