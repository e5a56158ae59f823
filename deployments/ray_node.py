"""Start Ray nodes (`ray start --block`) as supervised child processes, and wait for them.

The one module that both `deployments.serve_local` (a private single-host head for `make serve`)
and `cluster/` (`grok-cluster head|worker|simulate`) use to run Ray nodes. It lives here, below
`cluster/`, so imports point one way: `cluster` -> `deployments`, never back.

`--block` keeps each node's processes under one child we own, so stopping a node is stopping
that child's process group: unlike `ray stop`, it never touches other Ray clusters on the same
host. The child also dies with its parent (even a SIGKILLed one), so a killed supervisor never
leaves a node behind. Several nodes can share a host (the local simulation): each then gets its
own port range, since every raylet and agent needs ports of its own.

Ray 2.60's token authentication: a `ray start --head` turns it on by itself when a token exists
(`~/.ray/auth_token`, which any plain `ray.init()`/`serve run` writes), but a client given an
explicit address never does. `pin_auth_mode` makes that choice once, explicitly, for this
process and everything it starts, so head, workers and clients always agree.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("grok-serve.cluster")

# Each simulated node i uses ports PORT_BASE + 100*i .. +99 for its raylet, agents and workers.
PORT_BASE = 21000

# Node address of clusters that live on one host. Ray replaces 127.0.0.1 by the host's outward
# address (so that other hosts could join), which would take a one-host cluster's traffic off
# loopback; any other loopback address is used as given.
SINGLE_HOST_IP = "127.0.0.2"

AUTH_MODE_ENV = "RAY_AUTH_MODE"

# On SIGTERM, Ray 2.60 first drains the node (up to this many seconds, default 30) so Serve can
# take its proxy out of rotation before the replicas go: what a KubeRay upgrade needs. A node
# gets that long plus STOP_MARGIN_S to stop before its process group is killed.
DRAIN_ENV = "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"
STOP_MARGIN_S = 15.0


def ray_bin(name: str) -> str:
    """The `ray`/`serve` executable of this interpreter's environment."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def pin_auth_mode() -> str:
    """Decide Ray token authentication for this process and its children, and return the mode.

    An explicit `RAY_AUTH_MODE` wins. Unset, it is what `ray start --head` would choose: "token"
    when a token is available here (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token),
    else "disabled". Call it before connecting to or starting any Ray node. Raises Ray's
    AuthenticationError when the mode is "token" but no token is available."""
    from ray._private.authentication.authentication_token_setup import (
        ensure_token_if_auth_enabled,
    )
    from ray._raylet import AuthenticationTokenLoader, Config

    mode = os.environ.get(AUTH_MODE_ENV)
    if mode is None:
        has_token = AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)
        mode = "token" if has_token else "disabled"
        os.environ[AUTH_MODE_ENV] = mode
        # Ray caches its config per process; make this process see the mode too.
        Config.initialize("")
    # Token mode without a token: Ray's own AuthenticationError now, not a crash in the first
    # GCS call.
    ensure_token_if_auth_enabled(None, create_token_if_missing=False)
    return mode.lower()


@dataclass
class NodeSpec:
    """One node: the head (address None) or a worker joining `address`.

    Every None means "Ray's default" and passes no flag at all."""

    num_cpus: float | None = None  # None: Ray counts the host's cores
    address: str | None = None
    num_gpus: int | None = None  # Ray's real GPU resource; may exceed the devices present
    port: int = 6379
    dashboard_port: int | None = None  # head only; None: no dashboard
    dashboard_host: str = "127.0.0.1"
    resources: dict[str, float] = field(default_factory=dict)
    # Set for nodes sharing a host: selects a private port range (see PORT_BASE).
    sim_index: int | None = None
    node_ip: str | None = None  # None: Ray picks the host's address
    # Seconds Ray drains the node on SIGTERM; None: Ray's setting. 0 for nodes nothing else
    # routes to (a private single-host head, the simulation), which then stop at once.
    drain_timeout_s: float | None = None

    def env(self) -> dict[str, str]:
        """The environment of the node's `ray start`."""
        env = dict(os.environ)
        if self.drain_timeout_s is not None:
            env[DRAIN_ENV] = f"{self.drain_timeout_s:g}"
        return env

    def stop_timeout(self) -> float:
        """How long stopping may take before the node's processes are killed."""
        drain = self.drain_timeout_s
        if drain is None:
            drain = float(os.environ.get(DRAIN_ENV, "30"))
        return max(drain, 0.0) + STOP_MARGIN_S

    def command(self) -> list[str]:
        cmd = [ray_bin("ray"), "start", "--block", "--disable-usage-stats"]
        if self.num_cpus is not None:
            cmd.append(f"--num-cpus={self.num_cpus:g}")
        if self.num_gpus is not None:
            cmd.append(f"--num-gpus={self.num_gpus}")
        if self.node_ip is not None:
            cmd.append(f"--node-ip-address={self.node_ip}")
        if self.address is None:
            cmd += ["--head", f"--port={self.port}"]
            if self.dashboard_port is None:
                cmd.append("--include-dashboard=false")
            else:
                cmd += [
                    "--include-dashboard=true",
                    f"--dashboard-host={self.dashboard_host}",
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


def _die_with_parent() -> None:
    """In the child, before exec: own session (so its process group can be signalled as one),
    and SIGTERM when the parent dies, however it dies (Linux PR_SET_PDEATHSIG)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def spawn(cmd: list[str], **popen_kwargs: object) -> subprocess.Popen:
    """Start a supervised child: in a session of its own, and terminated with its parent."""
    return subprocess.Popen(cmd, preexec_fn=_die_with_parent, **popen_kwargs)  # type: ignore[call-overload]


def stop_group(process: subprocess.Popen, sig: int, timeout: float) -> None:
    """Send `sig` to the process group of `process` (a `spawn`ed child), SIGKILL the group if
    it has not ended after `timeout` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logger.warning(
            "process %d still running %g s after signal %d; killing it", process.pid, timeout, sig
        )
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        process.wait(timeout=timeout)


class RayNode:
    """A running node; `stop()` ends it and everything it started."""

    def __init__(self, spec: NodeSpec, log_path: Path | None = None) -> None:
        self.spec = spec
        self.log_path = log_path
        log = open(log_path, "w") if log_path else None  # noqa: SIM115
        logger.info("starting Ray node: %s", " ".join(spec.command()))
        self.process = spawn(spec.command(), stdout=log, stderr=subprocess.STDOUT, env=spec.env())

    def failure(self) -> str | None:
        """Why the node's process ended (with its log's tail), or None while it runs."""
        if self.process.poll() is None:
            return None
        message = f"Ray node exited with {self.process.returncode}"
        if self.log_path is not None and self.log_path.exists():
            tail = "\n".join(self.log_path.read_text().splitlines()[-15:])
            message += f" (log: {self.log_path}):\n{tail}"
        return message

    def stop(self) -> None:
        """SIGTERM the node's process group (`ray start --block` drains the node, then stops
        its raylet, GCS and workers), SIGKILL it if it outlives `spec.stop_timeout()`; then
        SIGKILL what is left of the node's session. Ray's workers put their own children in
        groups of their own, and those outlive a killed parent: Serve's HAProxy (seen holding
        the app's port after `make serve` ended) or a vLLM EngineCore."""
        stop_group(self.process, signal.SIGTERM, self.spec.stop_timeout())
        if left := kill_session(self.process.pid):
            logger.warning("killed what the node left running: %s", ", ".join(left))
        if self.spec.address is None:
            forget_head_address(self.spec)


def forget_head_address(head: NodeSpec) -> None:
    """After a head stops, do what `ray stop` does: remove Ray's address file if it still names
    this head. A plain `ray.init()` or `serve run` on the host joins the cluster that file names
    (the last head started here) and would hang retrying a stopped one."""
    from ray._common.utils import get_ray_address_file

    path = Path(get_ray_address_file(None))  # under $RAY_TMPDIR, as `ray start` wrote it
    try:
        host, _, port = path.read_text().strip().rpartition(":")
    except OSError:
        return
    if port == str(head.port) and head.node_ip in (None, host):
        path.unlink(missing_ok=True)
        logger.info("removed %s (it named this stopped head)", path)


def kill_session(sid: int) -> list[str]:
    """SIGKILL every process of session `sid`; returns their names."""
    import psutil  # Ray's own dependency

    killed = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid:
                name = psutil.Process(pid).name()
                os.kill(pid, signal.SIGKILL)
                killed.append(f"{name} ({pid})")
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return killed


def stop_nodes(nodes: Sequence[RayNode]) -> None:
    """Stop several nodes at once: all are signalled first, so their drains overlap."""
    for node in nodes:
        if node.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGTERM)
    for node in nodes:
        node.stop()


def alive_node_ips(address: str) -> list[str]:
    """Addresses of the alive nodes of the cluster whose GCS is at `address`, asked of the GCS
    itself. Raises Ray's own error; `ray.exceptions.AuthenticationError` (InvalidAuthToken) at
    once when this process's token does not match the cluster's."""
    from ray._raylet import GcsClient
    from ray.core.generated.gcs_pb2 import GcsNodeInfo

    info = GcsClient(address=address).get_all_node_info(timeout=10)
    return [n.node_manager_address for n in info.values() if n.state == GcsNodeInfo.ALIVE]


def wait_for_nodes(
    address: str,
    nodes: Sequence[RayNode],
    count: int | None = None,
    ip: str | None = None,
    timeout: float = 120,
) -> list[str]:
    """Block until `count` nodes (default: len(nodes)) are alive at `address` (GCS host:port),
    one of them at `ip` if given; return their addresses.

    Fails at once with Ray's own error when authentication is refused, and early, with the
    node's log, if one of `nodes` exits while waiting."""
    from ray.exceptions import AuthenticationError

    count = len(nodes) if count is None else count
    deadline = time.monotonic() + timeout
    last: str = "no answer yet"
    while True:
        for node in nodes:
            if (failure := node.failure()) is not None:
                raise RuntimeError(failure)
        try:
            alive = alive_node_ips(address)
            if len(alive) >= count and (ip is None or ip in alive):
                return alive
            last = f"{len(alive)} of {count} nodes alive: {alive}"
        except AuthenticationError:
            raise
        except Exception as exc:  # noqa: BLE001 - the GCS may not listen yet; kept for the error
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"Ray cluster at {address} not up after {timeout} s: {last}")
        time.sleep(1)
