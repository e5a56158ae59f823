"""`grok-cluster`: run Grok-1's Ray cluster nodes, deploy the Serve config, show what runs where.

    grok-cluster head --node-ip HEAD [--num-cpus 0] [--port 6379] [--dashboard-port 8265]
    grok-cluster worker --address HEAD:6379 --node-ip WORKER [--num-gpus 8] [--num-cpus N]
    grok-cluster deploy deployments/grok.yaml [--dashboard http://HEAD:8265]
    grok-cluster status --address HEAD:6379
    grok-cluster simulate --workers 2 [--deploy deployments/grok-tiny-multinode.yaml]

`head` and `worker` stay in the foreground (Ctrl-C or SIGTERM stops the node and everything it
started), for a process supervisor or a container entry point. Only the options given become
`ray start` flags; the rest is Ray's default (CPUs: Ray's count of this host's cores). `deploy`
submits or updates the config declaratively (`serve deploy` through the head's dashboard), so
changed autoscaling bounds apply without restarting replicas.

Token authentication (Ray 2.60): set RAY_AUTH_MODE=token (or keep a token in ~/.ray/auth_token,
RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH) on every host, with the same token. A refused token fails
at once with Ray's own InvalidAuthToken message.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time

from ray.exceptions import AuthenticationError

from deployments.ray_node import (
    NodeSpec,
    RayNode,
    alive_node_ips,
    pin_auth_mode,
    ray_bin,
    wait_for_nodes,
)

logger = logging.getLogger("grok-serve.cluster")


def _run_node(spec: NodeSpec) -> int:
    """Start the node, report when the cluster lists it, then wait for it in the foreground."""
    gcs = spec.address or f"{spec.node_ip or '127.0.0.1'}:{spec.port}"
    if spec.address is not None:
        # Before starting anything: a refused token or an unreachable head is the head's answer
        # now, not a worker that retries in the background.
        logger.info("cluster at %s has nodes %s", gcs, ", ".join(alive_node_ips(gcs)))
    node = RayNode(spec)
    try:
        alive = wait_for_nodes(gcs, [node], count=1, ip=spec.node_ip)
        logger.info("node up; alive nodes at %s: %s", gcs, ", ".join(alive))
        return node.process.wait()
    except KeyboardInterrupt:
        logger.info("stopping the Ray node")
        return 0
    finally:
        node.stop()


def _status(address: str) -> int:
    import ray

    from cluster.status import collect

    alive_node_ips(address)  # Ray's own error, at once, if the cluster refuses this client
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        print(collect().render())
    finally:
        ray.shutdown()
    return 0


def _deploy(config: str, dashboard: str) -> int:
    return subprocess.run([ray_bin("serve"), "deploy", "--address", dashboard, config]).returncode


def _simulate(args: argparse.Namespace) -> int:
    from cluster.simulate import LocalCluster

    cluster = LocalCluster(args.workers, args.cpus_per_worker, args.port, args.dashboard_port)
    try:
        with cluster as sim:
            print(
                f"cluster at {sim.address}, dashboard {sim.dashboard_url}, logs in {sim.log_dir}",
                flush=True,
            )
            if args.deploy and _deploy(args.deploy, sim.dashboard_url) != 0:
                return 1
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def _add_node_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-ip", help="this host's address (default: Ray's choice)")
    parser.add_argument("--num-cpus", type=float, help="default: Ray's count of this host's cores")
    parser.add_argument("--num-gpus", type=int, help="default: the GPUs Ray detects")
    parser.add_argument("--resources", type=json.loads, default={}, help="custom resources, JSON")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grok-cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    head = sub.add_parser("head", help="run a head node in the foreground")
    _add_node_options(head)
    head.add_argument("--port", type=int, default=6379)
    head.add_argument("--dashboard-port", type=int, default=8265)
    head.add_argument(
        "--dashboard-host",
        help="where the dashboard (and the Serve/Jobs REST API `deploy` uses) listens; "
        "default: --node-ip, else 127.0.0.1",
    )
    worker = sub.add_parser("worker", help="run a worker node in the foreground")
    worker.add_argument("--address", required=True, help="head GCS address, HOST:PORT")
    _add_node_options(worker)
    deploy = sub.add_parser("deploy", help="submit or update a Serve config file")
    deploy.add_argument("config")
    deploy.add_argument("--dashboard", default="http://127.0.0.1:8265")
    status = sub.add_parser("status", help="replicas, placement groups, per-node resources")
    status.add_argument("--address", required=True, help="head GCS address, HOST:PORT")
    simulate = sub.add_parser("simulate", help="several nodes on this machine")
    simulate.add_argument("--workers", type=int, default=2)
    simulate.add_argument("--cpus-per-worker", type=float, default=4)
    simulate.add_argument("--port", type=int, default=6400)
    simulate.add_argument("--dashboard-port", type=int, default=8266)
    simulate.add_argument("--deploy", help="Serve config file to deploy once the nodes are up")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # A supervisor's SIGTERM stops the nodes as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _command(args)
    except (AuthenticationError, RuntimeError, TimeoutError) as exc:
        # Ray's own message (InvalidAuthToken, a node's exit with its log), not a traceback.
        print(f"grok-cluster {args.command}: {exc}", file=sys.stderr)
        return 2


def _command(args: argparse.Namespace) -> int:
    if args.command in ("head", "worker", "status", "simulate"):
        logger.info("Ray token authentication: %s", pin_auth_mode())
    if args.command == "head":
        return _run_node(
            NodeSpec(
                args.num_cpus,
                num_gpus=args.num_gpus,
                port=args.port,
                dashboard_port=args.dashboard_port,
                dashboard_host=args.dashboard_host or args.node_ip or "127.0.0.1",
                resources=args.resources,
                node_ip=args.node_ip,
            )
        )
    if args.command == "worker":
        return _run_node(
            NodeSpec(
                args.num_cpus,
                address=args.address,
                num_gpus=args.num_gpus,
                resources=args.resources,
                node_ip=args.node_ip,
            )
        )
    if args.command == "deploy":
        return _deploy(args.config, args.dashboard)
    if args.command == "status":
        return _status(args.address)
    return _simulate(args)


if __name__ == "__main__":
    sys.exit(main())
