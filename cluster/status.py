"""What a running cluster is doing: Serve replicas, where their placement groups landed, and
each node's resources with what those groups reserve on it.

Uses public Ray APIs only (`ray.nodes`, `ray.util.placement_group_table`, `serve.status`), so it
works against any cluster a driver can join, dashboard or not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import serve


@dataclass
class NodeView:
    node_id: str
    address: str
    alive: bool
    total: dict[str, float]
    reserved: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class PlacementView:
    name: str
    strategy: str
    state: str
    bundle_nodes: list[str]


@dataclass
class ClusterStatus:
    nodes: dict[str, NodeView]
    placement_groups: list[PlacementView]
    # app -> deployment -> (status, {replica state: count})
    deployments: dict[str, dict[str, tuple[str, dict[str, int]]]]

    def replica_nodes(self, name_part: str) -> list[str]:
        """Node of the first bundle of every live placement group whose name contains
        `name_part`: where each such Serve replica runs (Ray Serve LLM puts the replica actor
        in bundle 0 of its engine's group)."""
        return [
            pg.bundle_nodes[0]
            for pg in self.placement_groups
            if name_part in pg.name and pg.state == "CREATED" and pg.bundle_nodes
        ]

    def running_replicas(self, deployment_part: str) -> int:
        return sum(
            counts.get("RUNNING", 0)
            for deployments in self.deployments.values()
            for name, (_, counts) in deployments.items()
            if deployment_part in name
        )

    def render(self) -> str:
        lines = ["Serve:"]
        for app, deployments in self.deployments.items():
            for name, (status, counts) in deployments.items():
                states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
                lines.append(f"  {app}/{name}: {status} ({states})")
        lines.append("Placement groups:")
        for pg in self.placement_groups:
            nodes = ", ".join(n[:8] for n in pg.bundle_nodes)
            lines.append(f"  {pg.name or '(unnamed)'} [{pg.strategy}, {pg.state}] on {nodes}")
        lines.append("Nodes:")
        for node in self.nodes.values():
            totals = ", ".join(
                f"{k} {node.reserved.get(k, 0):g}/{v:g}"
                for k, v in sorted(node.total.items())
                if k in ("CPU", "GPU") or not k.startswith(("node:", "memory", "object_store"))
            )
            state = "alive" if node.alive else "dead"
            lines.append(f"  {node.node_id[:8]} {node.address} {state}: reserved/total {totals}")
        return "\n".join(lines)


def collect() -> ClusterStatus:
    """Snapshot of the cluster this process is connected to (call `ray.init(address)` first)."""
    nodes = {
        n["NodeID"]: NodeView(n["NodeID"], n["NodeManagerAddress"], n["Alive"], n["Resources"])
        for n in ray.nodes()
    }
    groups = []
    for pg in ray.util.placement_group_table().values():
        bundle_nodes = [pg["bundles_to_node_id"].get(i, "") for i in range(len(pg["bundles"]))]
        groups.append(PlacementView(pg["name"], pg["strategy"], pg["state"], bundle_nodes))
        if pg["state"] != "CREATED":
            continue
        for index, bundle in pg["bundles"].items():
            node = nodes.get(pg["bundles_to_node_id"].get(index, ""))
            for resource, amount in bundle.items():
                if node is not None:
                    node.reserved[resource] += amount
    deployments: dict[str, dict[str, tuple[str, dict[str, int]]]] = {}
    for app_name, app in serve.status().applications.items():
        deployments[app_name] = {
            name: (str(d.status.value), _counts(d.replica_states))
            for name, d in app.deployments.items()
        }
    return ClusterStatus(nodes, groups, deployments)


def _counts(replica_states: Any) -> dict[str, int]:
    return {str(getattr(state, "value", state)): int(n) for state, n in replica_states.items()}
