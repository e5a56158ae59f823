"""Start Ray nodes (`ray start --block`) as supervised child processes.

`--block` keeps each node's processes under one child we own, so stopping a node is stopping
that child: unlike `ray stop`, it never touches other Ray clusters on the same host. Several
nodes can share a host (the local simulation): each then gets its own port range, since every
raylet and agent needs ports of its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("grok-serve.cluster")

# Each simulated node i uses ports PORT_BASE + 100*i .. +99 for its raylet, agents and workers.
PORT_BASE = 21000

# Node address of clusters that live on one host. Ray replaces 127.0.0.1 by the host's outward
# address (so that other hosts could join), which would take a one-host cluster's traffic off
# loopback; any other loopback address is used as given.
SINGLE_HOST_IP = "127.0.0.2"


def ray_bin(name: str) -> str:
    """The `ray`/`serve` executable of this interpreter's environment."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


@dataclass
class NodeSpec:
    """One node: the head (address None) or a worker joining `address`."""

    num_cpus: int | None  # None: Ray counts the host's cores
    address: str | None = None
    num_gpus: int | None = None
    port: int = 6379
    dashboard_port: int | None = None
    resources: dict[str, float] = field(default_factory=dict)
    # Set for nodes sharing a host: selects a private port range (see PORT_BASE).
    sim_index: int | None = None
    node_ip: str | None = None  # None: Ray picks the host's address

    def command(self) -> list[str]:
        cmd = [
            ray_bin("ray"),
            "start",
            "--block",
            f"--num-cpus={self.num_cpus}",
            f"--node-ip-address={self.node_ip}",
            "--disable-usage-stats",
        ]
        if self.address is None:
            cmd += ["--head", f"--port={self.port}"]
            if self.dashboard_port is None:
                cmd.append("--include-dashboard=false")
            else:
                cmd += [
                    "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={self.dashboard_port}",
                ]
        else:
            cmd.append(f"--address={self.address}")
        if self.resources:
            cmd.append(f"--resources={json.dumps(self.resources)}")
        if self.sim_index is not None:
            base = PORT_BASE + 100 * self.sim_index
            cmd += [
                f"--node-manager-port={base}",
                f"--object-manager-port={base + 1}",
                f"--dashboard-agent-listen-port={base + 2}",
                f"--dashboard-agent-grpc-port={base + 3}",
                f"--runtime-env-agent-port={base + 4}",
                f"--metrics-export-port={base + 5}",
                f"--min-worker-port={base + 10}",
                f"--max-worker-port={base + 99}",
            ]
            if self.address is None:
                cmd.append(f"--ray-client-server-port={base + 6}")
        return cmd


class RayNode:
    """A running node; `stop()` ends it and everything it started."""

    def __init__(self, spec: NodeSpec, log_path: Path | None = None) -> None:
        self.spec = spec
        self.log_path = log_path
        log = open(log_path, "w") if log_path else None  # noqa: SIM115
        logger.info("starting Ray node: %s", " ".join(spec.command()))
        self.process = subprocess.Popen(
            spec.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, timeout: float = 60) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def wait_for_nodes(address: str, nodes: list[RayNode], timeout: float = 120) -> None:
    """Block until all `nodes` are alive in the cluster at `address` (GCS host:port).

    Fails early, naming the node's log, if one of their processes exits while waiting."""
    deadline = time.monotonic() + timeout
    while True:
        for node in nodes:
            if node.process.poll() is not None:
                raise RuntimeError(
                    f"Ray node exited with {node.process.returncode}: {node.log_path}"
                )
        probe = subprocess.run(
            [ray_bin("ray"), "status", f"--address={address}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        alive = probe.stdout.count(" node_") if probe.returncode == 0 else 0
        if alive >= len(nodes):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{alive} of {len(nodes)} Ray nodes up at {address} after {timeout} s"
            )
        time.sleep(1)
