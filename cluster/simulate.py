"""Several Ray nodes on this one machine: a stand-in for a multi-node cluster.

Used by the tests and by `grok-cluster simulate`: a head that runs no work itself (as in
KubeRay's usual `num-cpus: 0` head) and worker nodes with their own CPUs and 8 logical GPUs
each, as a real 8-GPU host declares them (Ray lets a node declare GPUs it does not have). A
replica of the tiny multi-node config reserves a whole node's GPUs, as a production replica
does, so where Serve puts replicas and placement groups behaves as it would across hosts.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from types import TracebackType

from deployments.ray_node import (
    SINGLE_HOST_IP,
    NodeSpec,
    RayNode,
    pin_auth_mode,
    stop_nodes,
    wait_for_nodes,
)

logger = logging.getLogger("grok-serve.cluster")


class LocalCluster:
    """Head + `workers` worker nodes on 127.0.0.2; a context manager that stops them all."""

    def __init__(
        self,
        workers: int = 2,
        cpus_per_worker: float = 4,
        gpus_per_worker: int = 8,
        port: int = 6400,
        dashboard_port: int = 8266,
        log_dir: Path | None = None,
    ) -> None:
        self.address = f"{SINGLE_HOST_IP}:{port}"
        self.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="grok-cluster-"))
        self._specs = [
            NodeSpec(
                0,
                num_gpus=0,
                port=port,
                dashboard_port=dashboard_port,
                sim_index=0,
                node_ip=SINGLE_HOST_IP,
                drain_timeout_s=0,
            )
        ]
        self._specs += [
            NodeSpec(
                cpus_per_worker,
                address=self.address,
                num_gpus=gpus_per_worker,
                sim_index=i + 1,
                node_ip=SINGLE_HOST_IP,
                drain_timeout_s=0,  # a stopping simulation has no traffic to move elsewhere
            )
            for i in range(workers)
        ]
        self.nodes: list[RayNode] = []

    def start(self) -> LocalCluster:
        # Token auth decided as the head will decide it (on when ~/.ray/auth_token exists, e.g.
        # after a plain `serve run`), for this process too: else its GCS queries are refused.
        pin_auth_mode()
        try:
            self.nodes.append(RayNode(self._specs[0], self.log_dir / "head.log"))
            wait_for_nodes(self.address, self.nodes)
            # One at a time: raylets sharing a host and starting together can each time out
            # waiting to register.
            for i, spec in enumerate(self._specs[1:], start=1):
                self.nodes.append(RayNode(spec, self.log_dir / f"worker-{i}.log"))
                wait_for_nodes(self.address, self.nodes)
        except BaseException:
            self.stop()
            raise
        logger.info("local cluster up: %d nodes at %s", len(self.nodes), self.address)
        return self

    def stop(self) -> None:
        stop_nodes(self.nodes)
        self.nodes.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
