"""Serve a config on this machine: a local Ray head with enough logical CPUs, then `serve run`.

`serve run` alone would start Ray with one logical CPU per core; on a small machine the ingress
replica then cannot be scheduled beside the engine's placement group. This starts a
single-host head itself (loopback only), runs `serve run` against it in the foreground, and
stops the head when `serve run` ends (Ctrl-C and SIGTERM included). Other Ray clusters on the
machine are left alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cluster.nodes import SINGLE_HOST_IP, NodeSpec, RayNode, ray_bin, wait_for_nodes

logger = logging.getLogger("grok-serve")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="Serve config, e.g. deployments/grok-tiny.yaml")
    parser.add_argument("--num-cpus", type=int, default=max(8, os.cpu_count() or 1))
    parser.add_argument("--ray-port", type=int, default=6379)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    address = f"{SINGLE_HOST_IP}:{args.ray_port}"
    log = Path(tempfile.mkdtemp(prefix="grok-serve-")) / "ray-head.log"
    logger.info(
        "starting a Ray head on %s with %d logical CPUs (log: %s)", address, args.num_cpus, log
    )
    head = RayNode(NodeSpec(args.num_cpus, port=args.ray_port, node_ip=SINGLE_HOST_IP), log)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    serve = None
    try:
        wait_for_nodes(address, [head])
        serve = subprocess.Popen([ray_bin("serve"), "run", "--address", address, str(args.config)])
        return serve.wait()
    except KeyboardInterrupt:
        if serve is not None:
            serve.send_signal(signal.SIGINT)
            return serve.wait(timeout=120)
        return 130
    finally:
        logger.info("stopping the Ray head on %s", address)
        head.stop()


if __name__ == "__main__":
    sys.exit(main())
