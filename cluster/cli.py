"""`grok-cluster`: run Grok-1's Ray cluster nodes, deploy the Serve config, show what runs where.

    grok-cluster head [--num-cpus 0] [--port 6379] [--dashboard-port 8265]
    grok-cluster worker --address HEAD:6379 [--num-cpus N]
    grok-cluster deploy deployments/grok.yaml [--dashboard http://HEAD:8265]
    grok-cluster status --address HEAD:6379
    grok-cluster simulate --workers 2 [--deploy deployments/grok-tiny-multinode.yaml]

`head` and `worker` stay in the foreground (Ctrl-C stops the node), for a process supervisor or
a container entry point. `deploy` submits or updates the config declaratively (`serve deploy`
through the head's dashboard), so changed autoscaling bounds apply without restarting replicas.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time

from cluster.nodes import NodeSpec, RayNode, ray_bin


def _run_node(spec: NodeSpec) -> int:
    node = RayNode(spec)
    try:
        return node.process.wait()
    except KeyboardInterrupt:
        node.stop()
        return 0


def _status(address: str) -> int:
    import ray

    from cluster.status import collect

    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    print(collect().render())
    return 0


def _deploy(config: str, dashboard: str) -> int:
    return subprocess.run([ray_bin("serve"), "deploy", "--address", dashboard, config]).returncode


def _simulate(args: argparse.Namespace) -> int:
    from cluster.simulate import LocalCluster

    with LocalCluster(args.workers, args.cpus_per_worker, args.port, args.dashboard_port) as sim:
        print(f"cluster at {sim.address}, dashboard {sim.dashboard_url}, logs in {sim.log_dir}")
        if args.deploy and _deploy(args.deploy, sim.dashboard_url) != 0:
            return 1
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grok-cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    head = sub.add_parser("head", help="run a head node in the foreground")
    head.add_argument("--num-cpus", type=int, default=0, help="0: the head runs no replicas")
    head.add_argument("--port", type=int, default=6379)
    head.add_argument("--dashboard-port", type=int, default=8265)
    head.add_argument("--node-ip", help="this host's address (default: Ray's choice)")
    worker = sub.add_parser("worker", help="run a worker node in the foreground")
    worker.add_argument("--address", required=True, help="head GCS address, HOST:PORT")
    worker.add_argument("--num-cpus", type=int)
    worker.add_argument("--num-gpus", type=int)
    worker.add_argument("--resources", type=json.loads, default={})
    worker.add_argument("--node-ip", help="this host's address (default: Ray's choice)")
    deploy = sub.add_parser("deploy", help="submit or update a Serve config file")
    deploy.add_argument("config")
    deploy.add_argument("--dashboard", default="http://127.0.0.1:8265")
    status = sub.add_parser("status", help="replicas, placement groups, per-node resources")
    status.add_argument("--address", required=True, help="head GCS address, HOST:PORT")
    simulate = sub.add_parser("simulate", help="several nodes on this machine")
    simulate.add_argument("--workers", type=int, default=2)
    simulate.add_argument("--cpus-per-worker", type=int, default=4)
    simulate.add_argument("--port", type=int, default=6400)
    simulate.add_argument("--dashboard-port", type=int, default=8266)
    simulate.add_argument("--deploy", help="Serve config file to deploy once the nodes are up")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # A supervisor's SIGTERM stops the nodes as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.command == "head":
        return _run_node(
            NodeSpec(
                args.num_cpus,
                port=args.port,
                dashboard_port=args.dashboard_port,
                node_ip=args.node_ip,
            )
        )
    if args.command == "worker":
        resources = dict(args.resources)
        if args.num_gpus is not None:
            resources["GPU"] = args.num_gpus
        num_cpus = args.num_cpus if args.num_cpus is not None else 0
        return _run_node(
            NodeSpec(num_cpus, address=args.address, resources=resources, node_ip=args.node_ip)
        )
    if args.command == "deploy":
        return _deploy(args.config, args.dashboard)
    if args.command == "status":
        return _status(args.address)
    return _simulate(args)


if __name__ == "__main__":
    sys.exit(main())
