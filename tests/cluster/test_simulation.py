"""The tiny app on a simulated 3-node cluster (head + 2 workers on this machine).

Shows, with real Ray nodes and real engines: replicas land on different nodes by placement
group; a bounded burst scales Serve from 1 to 2 replicas and its end scales it back to 1; a
killed replica's in-flight requests fail with a clear error and later requests succeed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import ray

from cluster.cli import main as grok_cluster
from cluster.simulate import LocalCluster
from cluster.status import ClusterStatus, collect
from deployments.spec import TINY_MULTINODE

CONFIG = Path(__file__).resolve().parents[2] / "deployments" / "grok-tiny-multinode.yaml"
URL = f"http://127.0.0.1:{TINY_MULTINODE.port}"
LLM = "GrokLLMServer"
BODY = {"model": TINY_MULTINODE.model_id, "prompt": "Hello", "max_tokens": 3}


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{collect().render()}")
        time.sleep(2)


def _serves() -> bool:
    try:
        return httpx.post(f"{URL}/v1/completions", json=BODY, timeout=60).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def cluster(release_tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with LocalCluster(
        workers=2, cpus_per_worker=4, log_dir=tmp_path_factory.mktemp("nodes")
    ) as sim:
        assert grok_cluster(["deploy", str(CONFIG), "--dashboard", sim.dashboard_url]) == 0
        ray.init(address=sim.address, logging_level="ERROR", log_to_driver=False)
        try:
            _wait("the tiny app to answer", _serves, 600)
            yield sim.address
        finally:
            ray.shutdown()


def _running(status: ClusterStatus) -> int:
    return status.running_replicas(LLM)


def test_burst_scales_up_onto_another_node_and_back_down(cluster: str) -> None:
    assert _running(collect()) == 1
    seen: list[ClusterStatus] = []

    async def burst() -> list[int]:
        """Keep 6 long requests in flight until a second replica runs (at most 120, 420 s).

        A replica starts in two to three minutes on a busy 2-core machine (its engine competes
        with the burst itself), so the load must last that long: few, long requests, bounded
        by time first (48 requests were seen to run out before the replica was up)."""
        body = {**BODY, "max_tokens": 400, "ignore_eos": True}
        codes: list[int] = []
        deadline = time.monotonic() + 420
        async with httpx.AsyncClient(base_url=URL, timeout=600) as client:

            async def worker() -> None:
                while len(codes) < 120 and time.monotonic() < deadline and not seen:
                    response = await client.post("/v1/completions", json=body)
                    codes.append(response.status_code)

            async def watch() -> None:
                while time.monotonic() < deadline and not seen:
                    await asyncio.sleep(3)
                    status = await asyncio.to_thread(collect)
                    if _running(status) >= 2:
                        seen.append(status)

            await asyncio.gather(watch(), *(worker() for _ in range(6)))
        return codes

    codes = asyncio.run(burst())
    assert seen, f"no second replica after {len(codes)} requests:\n{collect().render()}"
    assert set(codes) <= {200}
    nodes = seen[0].replica_nodes(LLM)
    assert len(nodes) == 2 and len(set(nodes)) == 2, seen[0].render()
    _wait("the scale-down to one replica", lambda: _running(collect()) == 1, 240)


def test_killed_replica_is_replaced_and_in_flight_requests_fail_clearly(cluster: str) -> None:
    _wait("one running replica", lambda: _running(collect()) == 1, 240)

    async def in_flight_then_kill() -> list[httpx.Response]:
        body = {**BODY, "max_tokens": 400, "ignore_eos": True}
        async with httpx.AsyncClient(base_url=URL, timeout=600) as client:
            requests = [
                asyncio.create_task(client.post("/v1/completions", json=body)) for _ in range(3)
            ]
            await asyncio.sleep(5)
            replicas = [
                a for a in ray.util.list_named_actors(all_namespaces=True) if LLM in a["name"]
            ]
            assert replicas
            for actor in replicas:
                ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]))
            return await asyncio.gather(*requests)

    before = {
        a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if LLM in a["name"]
    }
    responses = asyncio.run(in_flight_then_kill())
    for response in responses:
        assert response.status_code >= 500
        assert "died" in response.json()["error"]["message"]
    _wait("a replacement replica to serve", _serves, 400)
    after = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if LLM in a["name"]}
    assert after and not after & before
