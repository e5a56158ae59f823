"""Our own rules for the rendered RayService: the Serve config is the spec's, each replica's
GPUs add up and fit the worker pods, autoscaling is on at both levels, and the API key is only
ever referenced, never inlined."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.chart import Case, only, template

API_KEY_ENV = "GROK_SERVE_API_KEY"
SECRET_LIKE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
GO_DURATION_OR_SECONDS = re.compile(r"^(([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+|[1-9][0-9]*)$")


def serve_config(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    return yaml.safe_load(only(rendered, "RayService")["spec"]["serveConfigV2"])


def llm_configs(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    apps = serve_config(rendered)["applications"]
    return [llm for app in apps for llm in app["args"]["llm_configs"]]


def cluster(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    return only(rendered, "RayService")["spec"]["rayClusterConfig"]


def worker_group(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    (group,) = cluster(rendered)["workerGroupSpecs"]
    return group


def ray_containers(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spec = cluster(rendered)
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def worker_gpus(group: dict[str, Any]) -> int:
    resources = group["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"]
    return int(resources["limits"]["nvidia.com/gpu"])


def cpus(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_serve_config_is_the_specs(case: Case, rendered: list[dict[str, Any]]) -> None:
    """The drift test: serveConfigV2 is what deployments/spec.py renders for this values file,
    the model path included (the chart's default mount is where the spec expects the model)."""
    assert serve_config(rendered) == case.spec.serve_config(), (
        f"{case.name}: the chart's serveConfigV2 drifted from deployments/spec.py "
        "(run python -m deployments.helm_values)"
    )


def test_serve_config_parses_with_ray_serve_llm(rendered: list[dict[str, Any]]) -> None:
    """Ray Serve LLM accepts what the chart composed (H200 has no Serve config file of its own)."""
    from ray.serve.llm import LLMConfig

    from deployments.app import GrokAppArgs

    for app in serve_config(rendered)["applications"]:
        for llm in GrokAppArgs.model_validate(app["args"]).llm_configs:
            LLMConfig.model_validate(llm)


def test_model_path_is_the_mount(helm: Path, case: Case) -> None:
    settings = {"model.mountPath": "/mnt/weights", "model.checkpointDir": "grok-1-int8"}
    rendered = template(helm, case.values_file, settings)
    moved = replace(case.spec, model_source="/mnt/weights/grok-1-int8")
    assert serve_config(rendered) == moved.serve_config()
    worker = worker_group(rendered)["template"]["spec"]
    mounts = {m["name"]: m for m in worker["containers"][0]["volumeMounts"]}
    assert mounts["model"] == {"name": "model", "mountPath": "/mnt/weights", "readOnly": True}
    volumes = {v["name"]: v for v in worker["volumes"]}
    assert volumes["model"]["persistentVolumeClaim"]["readOnly"] is True
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"


def test_model_from_a_host_path(helm: Path) -> None:
    rendered = template(helm, settings={"model.hostPath": "/data/models"})
    volumes = {v["name"]: v for v in worker_group(rendered)["template"]["spec"]["volumes"]}
    assert volumes["model"] == {
        "name": "model",
        "hostPath": {"path": "/data/models", "type": "Directory"},
    }


def test_replica_gpus_add_up_and_fit_the_workers(rendered: list[dict[str, Any]]) -> None:
    group = worker_group(rendered)
    per_pod = worker_gpus(group)
    for llm in llm_configs(rendered):
        engine, bundles = llm["engine_kwargs"], llm["placement_group_config"]["bundles"]
        gpus = engine["tensor_parallel_size"] * engine["pipeline_parallel_size"]
        assert len(bundles) == gpus  # one bundle per engine worker
        assert sum(b.get("GPU", 0) for b in bundles) == gpus
        pods = math.ceil(gpus / per_pod)
        assert gpus <= per_pod * group["maxReplicas"]
        scaling = llm["deployment_config"]["autoscaling_config"]
        assert group["minReplicas"] >= pods * scaling["min_replicas"]
        assert group["maxReplicas"] >= pods * scaling["max_replicas"]


def test_strict_pack_exactly_when_a_replica_fits_one_node(rendered: list[dict[str, Any]]) -> None:
    per_pod = worker_gpus(worker_group(rendered))
    for llm in llm_configs(rendered):
        placement = llm["placement_group_config"]
        fits = sum(b["GPU"] for b in placement["bundles"]) <= per_pod
        assert placement["strategy"] == ("STRICT_PACK" if fits else "PACK")


def test_a_worker_pod_holds_its_share_of_bundles(rendered: list[dict[str, Any]]) -> None:
    group = worker_group(rendered)
    per_pod = worker_gpus(group)
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    for llm in llm_configs(rendered):
        bundles = llm["placement_group_config"]["bundles"][:per_pod]
        assert cpus(limits["cpu"]) >= sum(b["CPU"] for b in bundles)
        # Serve LLM adds `accelerator_type:<type>` to every bundle; the autoscaler can only
        # add a pod for it if the group advertises it.
        assert group["resources"] == {f"accelerator_type:{llm['accelerator_type']}": "1"}
    assert cluster(rendered)["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_autoscaling_is_on_at_both_levels(rendered: list[dict[str, Any]]) -> None:
    spec = cluster(rendered)
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    group = worker_group(rendered)
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for llm in llm_configs(rendered):
        scaling = llm["deployment_config"]["autoscaling_config"]
        assert scaling["target_ongoing_requests"] > 0
        assert scaling["min_replicas"] <= scaling["initial_replicas"] <= scaling["max_replicas"]


def test_knobs_reshape_the_deployment(helm: Path) -> None:
    settings = {"grok.tensorParallel": 4, "grok.autoscaling.maxReplicas": 8}
    rendered = template(helm, settings=settings)
    (llm,) = llm_configs(rendered)
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 4
    assert len(llm["placement_group_config"]["bundles"]) == 4
    assert llm["placement_group_config"]["strategy"] == "STRICT_PACK"
    assert llm["deployment_config"]["autoscaling_config"]["max_replicas"] == 8
    assert worker_group(rendered)["maxReplicas"] == 8


def test_api_key_only_by_secret_reference(rendered: list[dict[str, Any]]) -> None:
    assert all(o["kind"] != "Secret" for o in rendered)
    for container in ray_containers(rendered):
        env = {e["name"]: e for e in container["env"]}
        assert env[API_KEY_ENV] == {
            "name": API_KEY_ENV,
            "valueFrom": {"secretKeyRef": {"name": "grok-serve-api-key", "key": "api-key"}},
        }
    inline = [
        e["name"] for e in _env_vars(rendered) if "value" in e and SECRET_LIKE.search(e["name"])
    ]
    assert inline == [], f"secret-looking env vars with inline values: {inline}"


def _env_vars(node: Any) -> list[dict[str, Any]]:
    """Every EnvVar anywhere in the rendered objects (the lists under an `env` key)."""
    if isinstance(node, list):
        return [e for item in node for e in _env_vars(item)]
    if not isinstance(node, dict):
        return []
    found = [e for e in node.get("env", []) if isinstance(e, dict)]
    return found + [e for value in node.values() for e in _env_vars(value)]


def test_auth_off_without_a_secret(helm: Path) -> None:
    rendered = template(helm, settings={"apiKey.secretName": ""})
    for container in ray_containers(rendered):
        assert API_KEY_ENV not in {e["name"] for e in container.get("env", [])}


@pytest.mark.parametrize(
    "release", ["grok", "a-release-name-far-longer-than-kuberay-allows-for-it"]
)
def test_rayservice_name_fits_kuberay(helm: Path, release: str) -> None:
    name = only(template(helm, release=release), "RayService")["metadata"]["name"]
    assert len(name) <= 47 and DNS_1035.match(name), name


def test_rayservice_lifecycle_settings(rendered: list[dict[str, Any]]) -> None:
    rayservice = only(rendered, "RayService")
    timeout = rayservice["metadata"]["annotations"]["ray.io/initializing-timeout"]
    assert GO_DURATION_OR_SECONDS.match(timeout), timeout
    assert rayservice["spec"]["upgradeStrategy"]["type"] in ("NewCluster", "None")
