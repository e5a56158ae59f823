"""How a new user serves the tiny model, run literally from a clean HOME.

First Ray's own `serve run deployments/grok-tiny.yaml` (on a 2-core machine; it writes
~/.ray/auth_token, which turns Ray token authentication on for later clusters), then, in the
same HOME, the CPU image's default command (`make serve` on 0.0.0.0:8000), which must still
start, and must stop everything it started within 60 s of a SIGTERM; then `serve run` again,
which must not try to join the head `make serve` stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil
import pytest

from deployments.server_process import wait_until_serving
from deployments.spec import TINY
from tests.docker.test_dockerfiles import cpu_image_command
from tests.process_tree import terminate_and_time

REPO = Path(__file__).resolve().parents[2]
URL = f"http://127.0.0.1:{TINY.port}"
BODY = {"model": TINY.model_id, "prompt": "The answer is", "max_tokens": 4, "temperature": 0}


def _listening(port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def _serve(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        process = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(URL, TINY.model_id, process, 420)
    except RuntimeError as exc:
        terminate_and_time([process])
        pytest.fail(f"{cmd}: {exc}\n{log.read_text()[-5000:]}")
    return process


def test_plain_serve_run_and_make_serve_take_turns_on_the_same_machine(
    release_tokenizer: Path, tmp_path: Path
) -> None:
    if _listening(TINY.port):
        pytest.fail(f"port {TINY.port} is taken")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RAY_") and k != "GROK_SERVE_API_KEY"
    }
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    # A plain `serve run` joins the cluster named in $RAY_TMPDIR/ray/ray_current_cluster if one
    # answers there (machine-wide by default); a private one makes this a machine with no other
    # cluster, as for a new user. Short: Ray's socket paths live under it.
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="gs-", dir="/tmp")

    plain = _serve(["serve", "run", "deployments/grok-tiny.yaml"], env, tmp_path / "plain.log")
    response = httpx.post(f"{URL}/v1/completions", json=BODY, timeout=60)
    assert response.status_code == 200 and response.json()["choices"][0]["text"]
    assert (home / ".ray" / "auth_token").is_file()
    elapsed, left = terminate_and_time([plain], signal.SIGINT, limit=120)
    assert left == [], left
    print(f"plain serve run: stopped {elapsed:.1f} s after Ctrl-C")

    image = _serve(cpu_image_command(), env, tmp_path / "image.log")
    assert "0.0.0.0" in _listening(TINY.port)
    response = httpx.post(f"{URL}/v1/completions", json=BODY, timeout=60)
    assert response.status_code == 200 and response.json()["choices"][0]["text"]
    assert "Ray token authentication: token" in (tmp_path / "image.log").read_text()
    elapsed, left = terminate_and_time([image])
    assert left == [] and elapsed < 60, (elapsed, left)
    print(f"make serve: everything stopped {elapsed:.1f} s after SIGTERM")

    # Ray's address file named make serve's head; left behind, `serve run` retries it forever.
    again = _serve(["serve", "run", "deployments/grok-tiny.yaml"], env, tmp_path / "again.log")
    response = httpx.post(f"{URL}/v1/completions", json=BODY, timeout=60)
    assert response.status_code == 200 and response.json()["choices"][0]["text"]
    elapsed, left = terminate_and_time([again], signal.SIGINT, limit=120)
    assert left == [], left
