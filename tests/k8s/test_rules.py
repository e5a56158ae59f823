"""Our own rules for the rendered RayService: the Serve config is the spec's, each replica's
GPUs add up and fit the worker pods, autoscaling is on at both levels, and the API key is only
ever referenced, never inlined."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.helm_values import dump_values, grok_values
from deployments.spec import PRODUCTION
from tests.k8s.chart import Case, only, render_error, template

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
    """Each group's Ray container: the first (KubeRay's rule), sidecars follow it."""
    spec = cluster(rendered)
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [g["template"]["spec"]["containers"][0] for g in groups]


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


def test_model_volume_is_mounted_where_the_serve_config_reads(
    plain: list[dict[str, Any]], case: Case
) -> None:
    worker = worker_group(plain)["template"]["spec"]
    mounts = {m["name"]: m for m in worker["containers"][0]["volumeMounts"]}
    assert mounts["model"] == {"name": "model", "mountPath": "/models", "readOnly": True}
    assert case.spec.model_source.startswith(mounts["model"]["mountPath"] + "/")
    volumes = {v["name"]: v for v in worker["volumes"]}
    assert volumes["model"]["persistentVolumeClaim"] == {
        "claimName": "grok-serve-models",
        "readOnly": True,
    }
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"


def test_a_mount_the_serve_config_does_not_read_fails(helm: Path) -> None:
    """model_source is the Serve config's; a mount elsewhere would load nothing."""
    message = render_error(helm, {"model.mountPath": "/mnt/weights"})
    assert "model_source /models/grok-1-vllm is not under model.mountPath (/mnt/weights)" in message


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


def _edited_values(tmp_path: Path, edit: Any) -> Path:
    """The defaults' generated `grok:` block with `edit` applied to its one LLM config, written
    as an operator's values file."""
    grok = grok_values(PRODUCTION)
    (llm,) = grok["serveConfig"]["applications"][0]["args"]["llm_configs"]
    edit(llm)
    path = tmp_path / "edited.yaml"
    path.write_text(dump_values({"grok": grok}))
    return path


def test_an_edit_to_the_serve_config_is_what_runs(helm: Path, tmp_path: Path) -> None:
    """One source of truth: an edited Serve config reaches serveConfigV2 unchanged, and the
    worker pods follow it (nothing re-derives TP, placement or replica bounds on top)."""

    def tp4_up_to_8(llm: dict[str, Any]) -> None:
        llm["engine_kwargs"]["tensor_parallel_size"] = 4
        llm["placement_group_config"]["bundles"] = [{"GPU": 1, "CPU": 4}] * 4
        llm["deployment_config"]["autoscaling_config"]["max_replicas"] = 8
        llm["deployment_config"]["health_check_timeout_s"] = 300.0

    values = _edited_values(tmp_path, tp4_up_to_8)
    rendered = template(helm, values)
    (llm,) = llm_configs(rendered)
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 4
    assert len(llm["placement_group_config"]["bundles"]) == 4
    assert llm["deployment_config"]["autoscaling_config"]["max_replicas"] == 8
    assert llm["deployment_config"]["health_check_timeout_s"] == 300.0
    assert serve_config(rendered) == yaml.safe_load(values.read_text())["grok"]["serveConfig"]
    group = worker_group(rendered)
    assert (group["minReplicas"], group["maxReplicas"]) == (1, 8)


def test_a_two_pod_replica_doubles_the_worker_bounds(helm: Path, tmp_path: Path) -> None:
    def pp2(llm: dict[str, Any]) -> None:
        llm["engine_kwargs"]["pipeline_parallel_size"] = 2
        llm["placement_group_config"] = {"bundles": [{"GPU": 1, "CPU": 4}] * 16, "strategy": "PACK"}

    group = worker_group(template(helm, _edited_values(tmp_path, pp2)))
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (2, 2, 8)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda llm: llm["engine_kwargs"].update(tensor_parallel_size=4),
            "has TP=4 x PP=1 but its placement bundles hold 8 GPUs",
        ),
        (
            lambda llm: (
                llm["engine_kwargs"].update(pipeline_parallel_size=2),
                llm["placement_group_config"].update(bundles=[{"GPU": 1, "CPU": 4}] * 16),
            ),
            "packs 16 GPUs STRICT_PACK onto one node, but grok.gpusPerWorker is 8",
        ),
        (
            lambda llm: (
                llm["engine_kwargs"].update(tensor_parallel_size=12),
                llm["placement_group_config"].update(
                    bundles=[{"GPU": 1, "CPU": 4}] * 12, strategy="PACK"
                ),
            ),
            "must fill whole pods",
        ),
        (lambda llm: llm.pop("accelerator_type"), "has no accelerator_type"),
    ],
    ids=["tp-without-bundles", "strict-pack-too-big", "partial-pods", "cpu"],
)
def test_a_serve_config_the_workers_cannot_hold_fails(
    helm: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    assert message in render_error(helm, {}, _edited_values(tmp_path, edit))


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
    assert rayservice["spec"]["upgradeStrategy"]["type"] in (
        "NewCluster",
        "NewClusterWithIncrementalUpgrade",
        "None",
    )
