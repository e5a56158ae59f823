"""The README's multi-node recipe, run as written, on loopback addresses standing in for hosts.

HEAD is 127.0.0.3, the two workers 127.0.0.4 and 127.0.0.5 (Ray keeps loopback addresses other
than 127.0.0.1 as given). Once with Ray token authentication on, deploying the tiny multi-node
config onto the cluster; once with it off. Each run ends by SIGTERM to every `grok-cluster`
command, after which no process they started may be left.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from deployments.server_process import wait_until_serving
from deployments.spec import TINY_MULTINODE
from tests.process_tree import terminate_and_time

REPO = Path(__file__).resolve().parents[2]
HEAD, WORKERS = "127.0.0.3", ("127.0.0.4", "127.0.0.5")
TINY_MULTINODE_CONFIG = "deployments/grok-tiny-multinode.yaml"
URL = f"http://127.0.0.1:{TINY_MULTINODE.port}"


def readme_recipe() -> list[str]:
    """The command lines of the README's multi-node block, comments stripped."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Multi-node Ray clusters", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's multi-node section has no bash block"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def command(line: str, worker: str = WORKERS[0]) -> list[str]:
    """One recipe line with HEAD/WORKER filled in; the deploy line deploys the tiny config."""
    line = line.replace("HEAD", HEAD).replace("WORKER", worker)
    line = line.replace("deployments/grok.yaml", TINY_MULTINODE_CONFIG)
    return shlex.split(line)


@dataclass
class Recipe:
    auth: str
    env: dict[str, str]
    nodes: list[subprocess.Popen]
    logs: Path

    def run(self, line: str, **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.run(
            command(line), cwd=REPO, env=self.env, capture_output=True, text=True, **kwargs
        )

    def line(self, start: str) -> str:
        (line,) = [x for x in readme_recipe() if x.startswith(start)]
        return line

    def status(self) -> str:
        result = self.run(self.line("grok-cluster status"), timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout


def _start(line: str, env: dict[str, str], log: Path, worker: str = WORKERS[0]) -> subprocess.Popen:
    return subprocess.Popen(
        command(line, worker),
        cwd=REPO,
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module", params=["token", "disabled"])
def recipe(
    request: pytest.FixtureRequest,
    release_tokenizer: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Recipe]:
    """The recipe's head and workers running; HOME is private (Ray keeps its token there)."""
    auth = request.param
    work = tmp_path_factory.mktemp(f"recipe-{auth}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(work), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    # Ray's session files (and the "current cluster" other `ray.init()` calls on this machine
    # would join) stay private to this test. Short: Ray's socket paths live under it.
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="gr-", dir="/tmp")
    lines = readme_recipe()
    for line in lines:
        if line.startswith("export RAY_AUTH_MODE=") and auth == "token":
            env["RAY_AUTH_MODE"] = line.split("=", 1)[1]
        elif line.startswith("ray get-auth-token") and auth == "token":
            subprocess.run(shlex.split(line), env=env, check=True, capture_output=True)
    if auth == "disabled":
        env["RAY_AUTH_MODE"] = "disabled"
    assert (work / ".ray" / "auth_token").exists() == (auth == "token")
    nodes: list[subprocess.Popen] = []
    try:
        (head,) = [x for x in lines if x.startswith("grok-cluster head")]
        (worker,) = [x for x in lines if x.startswith("grok-cluster worker")]
        nodes.append(_start(head, env, work / "head.log"))
        recipe = Recipe(auth, env, nodes, work)
        # One host after another, as an operator brings them up: raylets sharing one machine
        # and starting at the same moment can pick the same free port.
        for i, ip in enumerate(WORKERS):
            nodes.append(_start(worker, env, work / f"worker-{ip}.log", worker=ip))
            _wait_for_workers(recipe, WORKERS[: i + 1])
        yield recipe
    finally:
        terminate_and_time(nodes)  # no-op when the SIGTERM test already stopped them


def _wait_for_workers(recipe: Recipe, workers: tuple[str, ...] = WORKERS) -> str:
    """`grok-cluster status` once it lists `workers` alive (failing with the logs if a node's
    command exits first)."""
    deadline = time.monotonic() + 180
    while True:
        for node in recipe.nodes:
            if node.poll() is not None:
                logs = "\n".join(p.read_text()[-2000:] for p in recipe.logs.glob("*.log"))
                pytest.fail(f"{shlex.join(node.args)} exited with {node.returncode}:\n{logs}")
        status = recipe.status()
        if all(f" {ip} alive" in status for ip in workers):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(2)


def test_workers_join_offering_8_gpus_and_their_cpus(recipe: Recipe) -> None:
    status = _wait_for_workers(recipe)
    cpus = psutil.cpu_count()
    for ip in WORKERS:
        (line,) = [x for x in status.splitlines() if f" {ip} alive" in x]
        assert re.search(rf"CPU [\d.]+/{cpus}\b", line), status
        assert re.search(r"GPU [\d.]+/8\b", line), status
    (head,) = [x for x in status.splitlines() if f" {HEAD} alive" in x]
    assert "CPU" not in head or "CPU 0/0" in head, status  # --num-cpus 0: no replicas there


def test_a_client_without_the_token_is_refused_at_once_where_auth_is_on(recipe: Recipe) -> None:
    """Under token auth, Ray's own InvalidAuthToken in one line, at once; with auth off, the
    same client is answered."""
    _wait_for_workers(recipe)
    start = time.monotonic()
    result = subprocess.run(
        command(recipe.line("grok-cluster status")),
        cwd=REPO,
        env={**recipe.env, "RAY_AUTH_MODE": "disabled"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if recipe.auth == "token":
        assert result.returncode == 2
        assert "InvalidAuthToken" in result.stderr and "Traceback" not in result.stderr
        assert time.monotonic() - start < 20
    else:
        assert result.returncode == 0, result.stderr
        assert all(f" {ip} alive" in result.stdout for ip in WORKERS), result.stdout


def test_tiny_multinode_config_serves_on_the_cluster(recipe: Recipe) -> None:
    _wait_for_workers(recipe)
    deploy = recipe.run(recipe.line("grok-cluster deploy"), timeout=300)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    never_exits = subprocess.Popen(["sleep", "infinity"])
    try:
        wait_until_serving(URL, TINY_MULTINODE.model_id, never_exits, 600)
    finally:
        never_exits.kill()
    body = {"model": TINY_MULTINODE.model_id, "prompt": "The answer is", "max_tokens": 4}
    response = httpx.post(f"{URL}/v1/completions", json=body, timeout=60)
    assert response.status_code == 200 and response.json()["choices"][0]["text"]
    status = recipe.status()
    assert "RUNNING" in status and "CREATED" in status, status
    # The replica's group reserves a whole worker's 8 GPUs, as a production replica does.
    assert any(re.search(r"GPU 8/8\b", x) for x in status.splitlines()), status


def test_sigterm_stops_every_command_and_everything_it_started(recipe: Recipe) -> None:
    _wait_for_workers(recipe)
    elapsed, left = terminate_and_time(recipe.nodes)
    assert left == [] and elapsed < 60, (elapsed, left)
    print(f"recipe ({recipe.auth}): stopped in {elapsed:.1f} s after SIGTERM")
