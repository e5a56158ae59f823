"""Rendered RayServices against KubeRay v1.7's CRD schemas, with unknown fields rejected."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from tests.k8s.chart import only
from tests.k8s.crd import errors, strict


def test_rayservice_matches_the_crd(
    rendered: list[dict[str, Any]],
    plain: list[dict[str, Any]],
    rayservice_validator: jsonschema.Draft7Validator,
) -> None:
    """As shipped, and with every option on (incremental upgrades, pod fields, init and
    sidecar containers, volumes, the weights wait)."""
    for objects in (plain, rendered):
        rayservice = only(objects, "RayService")
        assert rayservice["apiVersion"] == "ray.io/v1"
        assert errors(rayservice_validator, rayservice) == []


def test_cluster_config_matches_the_raycluster_crd(
    rendered: list[dict[str, Any]], raycluster_spec_validator: jsonschema.Draft7Validator
) -> None:
    """What KubeRay copies into the RayCluster it creates is a valid RayCluster spec too."""
    cluster = only(rendered, "RayService")["spec"]["rayClusterConfig"]
    assert errors(raycluster_spec_validator, cluster) == []


def test_options_change_what_the_crd_is_shown(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]]
) -> None:
    """The CRD check above saw the options: the two renderings differ where they act."""
    spec, plain_spec = (only(o, "RayService")["spec"] for o in (rendered, plain))
    assert spec["upgradeStrategy"]["type"] == "NewClusterWithIncrementalUpgrade"
    assert plain_spec["upgradeStrategy"] == {"type": "NewCluster"}
    worker = spec["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    assert [c["name"] for c in worker["initContainers"]] == ["wait-for-weights", "warm-cache"]
    assert [c["name"] for c in worker["containers"]] == ["ray-worker", "log-shipper"]


def test_unknown_fields_are_rejected(
    rendered: list[dict[str, Any]],
    rayservice_validator: jsonschema.Draft7Validator,
    raycluster_spec_validator: jsonschema.Draft7Validator,
) -> None:
    """Typos the API server would silently prune fail here, at any depth."""
    rayservice = copy.deepcopy(only(rendered, "RayService"))
    spec = rayservice["spec"]
    spec["serveConfigV3"] = "typo"
    spec["rayClusterConfig"]["enableInTreeAutoscaler"] = True
    worker = spec["rayClusterConfig"]["workerGroupSpecs"][0]
    worker["template"]["spec"]["containers"][0]["resource"] = {}
    found = errors(rayservice_validator, rayservice)
    assert len(found) == 3, found
    assert all("Additional properties are not allowed" in e for e in found)
    assert len(errors(raycluster_spec_validator, spec["rayClusterConfig"])) == 2


def test_strict_respects_preserve_unknown_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
            "open": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    check = jsonschema.Draft7Validator(strict(schema))
    assert check.is_valid({"open": {"a": "x", "b": 1}, "map": {"any": "x"}})
    assert not check.is_valid({"closed": {"b": 1}})
    assert not check.is_valid({"other": 1})
