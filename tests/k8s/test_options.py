"""Each of the chart's production options: where it lands in the rendered objects, that it is
absent until set, and that values which would misbehave on the cluster fail the render."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from deployments.helm_values import DASHBOARD, grok_values
from deployments.spec import PRODUCTION
from model_ext.ckpt.tiny import OVERRIDES_FILE
from tests.k8s.chart import ALL_OPTIONS, REPO, Case, named, of_kind, only, render_error, template

OPTIONS = yaml.safe_load(ALL_OPTIONS.read_text())
GROUPS = {"head": "headGroupSpec", "workers": "workerGroupSpecs"}


def pod_template(rendered: list[dict[str, Any]], group: str) -> dict[str, Any]:
    spec = only(rendered, "RayService")["spec"]["rayClusterConfig"][GROUPS[group]]
    return (spec[0] if isinstance(spec, list) else spec)["template"]


def ray_container(rendered: list[dict[str, Any]], group: str) -> dict[str, Any]:
    return pod_template(rendered, group)["spec"]["containers"][0]


# ---- pod fields, passed through per group ---------------------------------------------------

POD_SPEC_FIELDS = {
    "serviceAccountName": "serviceAccountName",
    "priorityClassName": "priorityClassName",
    "terminationGracePeriodSeconds": "terminationGracePeriodSeconds",
    "podSecurityContext": "securityContext",
}


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("value", POD_SPEC_FIELDS)
def test_pod_spec_fields(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], group: str, value: str
) -> None:
    field = POD_SPEC_FIELDS[value]
    assert pod_template(rendered, group)["spec"][field] == OPTIONS[group][value]
    assert field not in pod_template(plain, group)["spec"]


@pytest.mark.parametrize("group", GROUPS)
def test_container_security_context(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], group: str
) -> None:
    assert ray_container(rendered, group)["securityContext"] == OPTIONS[group]["securityContext"]
    assert "securityContext" not in ray_container(plain, group)


@pytest.mark.parametrize("group", GROUPS)
def test_labels_and_annotations(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], group: str
) -> None:
    """The operator's labels reach the pods, but never over the chart's own (the monitors,
    budgets and Services select by them)."""
    metadata = pod_template(rendered, group)["metadata"]
    assert metadata["labels"]["team"] == "llm"
    component = "head" if group == "head" else "worker"
    assert metadata["labels"]["app.kubernetes.io/component"] == component
    assert metadata["annotations"] == OPTIONS[group]["annotations"]
    plain_metadata = pod_template(plain, group)["metadata"]
    assert "annotations" not in plain_metadata and "team" not in plain_metadata["labels"]


@pytest.mark.parametrize("group", GROUPS)
def test_env_and_env_from(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], group: str
) -> None:
    """The spec's Serve switches, the API key, then the shared env, then the group's own, in
    that order (later entries win, so an operator can still override a switch)."""
    serve_env = sorted(PRODUCTION.serve_env)
    container = ray_container(rendered, group)
    names = [e["name"] for e in container["env"]]
    own = [e["name"] for e in OPTIONS[group]["env"]]
    assert names == [*serve_env, "GROK_SERVE_API_KEY", "NCCL_DEBUG", *own]
    assert container["env"][-1] == OPTIONS[group]["env"][0]
    assert container["envFrom"] == OPTIONS[group]["envFrom"]
    plain_names = [e["name"] for e in ray_container(plain, group)["env"]]
    assert plain_names == [*serve_env, "GROK_SERVE_API_KEY"]
    assert "envFrom" not in ray_container(plain, group)


@pytest.mark.parametrize("group", GROUPS)
def test_ray_starts_with_the_specs_serve_path(plain: list[dict[str, Any]], group: str) -> None:
    """Ray reads its Serve data-path switches (HAProxy, direct streaming) when it starts, not
    from the Serve config: every Ray container must carry the spec's `serve_env` as strings."""
    env = {e["name"]: e.get("value") for e in ray_container(plain, group)["env"]}
    assert PRODUCTION.serve_env, "the production spec chooses a Serve data path"
    for name, value in PRODUCTION.serve_env.items():
        assert env[name] == value


@pytest.mark.parametrize("group", GROUPS)
def test_volumes_and_mounts(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], group: str
) -> None:
    volumes = pod_template(rendered, group)["spec"]["volumes"]
    chart_volumes = pod_template(plain, group)["spec"]["volumes"]
    assert volumes == chart_volumes + OPTIONS[group]["volumes"]
    mounts = ray_container(rendered, group)["volumeMounts"]
    assert mounts == ray_container(plain, group)["volumeMounts"] + OPTIONS[group]["volumeMounts"]


@pytest.mark.parametrize("group", GROUPS)
def test_init_and_sidecar_containers(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], group: str
) -> None:
    """Sidecars come after the Ray container, which KubeRay takes to be the first; the
    operator's init containers run after the chart's wait for the weights."""
    spec = pod_template(rendered, group)["spec"]
    assert spec["containers"][1:] == OPTIONS[group]["sidecarContainers"]
    assert spec["containers"][0]["name"] in ("ray-head", "ray-worker")
    assert spec["initContainers"][-1] == OPTIONS[group]["initContainers"][0]
    plain_spec = pod_template(plain, group)["spec"]
    assert len(plain_spec["containers"]) == 1 and "initContainers" not in plain_spec


# ---- rollout: deletion delay, upgrade strategy ----------------------------------------------


def test_deletion_delay_defaults_to_the_request_timeout(
    plain: list[dict[str, Any]], case: Case
) -> None:
    """Streams of up to request_timeout_s (600 s) finish on the old cluster before KubeRay
    deletes it."""
    delay = only(plain, "RayService")["spec"]["rayClusterDeletionDelaySeconds"]
    assert delay == case.spec.request_timeout_s == 600


def test_deletion_delay_longer_is_kept(rendered: list[dict[str, Any]]) -> None:
    spec = only(rendered, "RayService")["spec"]
    assert spec["rayClusterDeletionDelaySeconds"] == 900


def test_deletion_delay_below_the_request_timeout_fails(helm: Path) -> None:
    message = render_error(helm, {"rayService.clusterDeletionDelaySeconds": 599})
    assert "(599) is below the Serve config's request_timeout_s (600)" in message


def _values(tmp_path: Path, serve_config: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"grok": {"gpusPerWorker": 8, "serveConfig": serve_config}}))
    return path


def test_deletion_delay_follows_an_edited_timeout(helm: Path, tmp_path: Path) -> None:
    config = PRODUCTION.serve_config()
    config["http_options"]["request_timeout_s"] = 1800.5
    spec = only(template(helm, _values(tmp_path, config)), "RayService")["spec"]
    assert spec["rayClusterDeletionDelaySeconds"] == 1801


def test_unbounded_requests_need_an_explicit_delay(helm: Path, tmp_path: Path) -> None:
    config = PRODUCTION.serve_config()
    config["http_options"]["request_timeout_s"] = None  # helm's way to drop a default's key
    values = _values(tmp_path, config)
    assert "set rayService.clusterDeletionDelaySeconds" in render_error(helm, {}, values)
    settings = {"rayService.clusterDeletionDelaySeconds": 3600}
    spec = only(template(helm, values, settings), "RayService")["spec"]
    assert spec["rayClusterDeletionDelaySeconds"] == 3600


def test_incremental_upgrade_options(
    rendered: list[dict[str, Any]], helm: Path, tmp_path: Path
) -> None:
    """The v1.7 CRD's field names, every option passed; maxSurgePercent only when set (KubeRay
    defaults it to 100)."""
    strategy = only(rendered, "RayService")["spec"]["upgradeStrategy"]
    assert strategy == {
        "type": "NewClusterWithIncrementalUpgrade",
        "clusterUpgradeOptions": {
            "gatewayClassName": "istio",
            "maxSurgePercent": 25,
            "stepSizePercent": 5,
            "intervalSeconds": 60,
        },
    }
    no_surge = tmp_path / "no-surge.yaml"
    no_surge.write_text(
        yaml.safe_dump(
            {
                "rayService": {
                    "upgradeStrategy": {"clusterUpgradeOptions": {"maxSurgePercent": None}}
                }
            }
        )
    )
    unset = template(helm, None, more_files=(ALL_OPTIONS, no_surge))
    options = only(unset, "RayService")["spec"]["upgradeStrategy"]["clusterUpgradeOptions"]
    assert options == {"gatewayClassName": "istio", "stepSizePercent": 5, "intervalSeconds": 60}


def test_upgrade_none(helm: Path) -> None:
    rendered = template(helm, settings={"rayService.upgradeStrategy.type": "None"})
    assert only(rendered, "RayService")["spec"]["upgradeStrategy"] == {"type": "None"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "clusterUpgradeOptions"),
        (
            {
                "opts.gatewayClassName": "istio",
                "opts.stepSizePercent": 50,
                "opts.intervalSeconds": 0,
            },
            "intervalSeconds",
        ),
        (
            {
                "opts.gatewayClassName": "istio",
                "opts.stepSizePercent": 50,
                "opts.maxSurgePercent": 20,
                "opts.intervalSeconds": 60,
            },
            "stepSizePercent must not exceed maxSurgePercent",
        ),
        (
            {"opts.gatewayClassName": "", "opts.stepSizePercent": 5, "opts.intervalSeconds": 60},
            "gatewayClassName",
        ),
    ],
    ids=["no-options", "zero-interval", "step-over-surge", "no-gateway-class"],
)
def test_incremental_upgrade_needs_kuberays_options(
    helm: Path, settings: dict[str, Any], message: str
) -> None:
    """What KubeRay's validation would reject only once applied."""
    prefix = "rayService.upgradeStrategy.clusterUpgradeOptions."
    full = {"rayService.upgradeStrategy.type": "NewClusterWithIncrementalUpgrade"}
    full |= {k.replace("opts.", prefix): v for k, v in settings.items()}
    assert message in render_error(helm, full)


# ---- disruption budgets ---------------------------------------------------------------------


def test_worker_budget_keeps_serves_floor(plain: list[dict[str, Any]], case: Case) -> None:
    """minAvailable is the pods Serve's min_replicas fill (an integer: KubeRay's pods have no
    scale subresource), selecting exactly the GPU worker pods."""
    budget = named(plain, "PodDisruptionBudget", "-workers")
    pods_per_replica = -(-case.spec.gpus_per_replica // case.spec.gpus_per_node)
    assert budget["spec"] == {
        "minAvailable": pods_per_replica * case.spec.autoscaling.min_replicas,
        "selector": budget["spec"]["selector"],
    }
    selector = budget["spec"]["selector"]["matchLabels"].items()
    assert selector <= pod_template(plain, "workers")["metadata"]["labels"].items()
    assert not selector <= pod_template(plain, "head")["metadata"]["labels"].items()


def test_head_budget(plain: list[dict[str, Any]]) -> None:
    budget = named(plain, "PodDisruptionBudget", "-head")
    assert budget["spec"]["minAvailable"] == 1
    selector = budget["spec"]["selector"]["matchLabels"].items()
    assert selector <= pod_template(plain, "head")["metadata"]["labels"].items()
    assert not selector <= pod_template(plain, "workers")["metadata"]["labels"].items()


def test_budget_settings(rendered: list[dict[str, Any]], helm: Path, tmp_path: Path) -> None:
    assert named(rendered, "PodDisruptionBudget", "-workers")["spec"]["minAvailable"] == 2
    no_head = template(helm, settings={"podDisruptionBudget.head": False})
    assert [b["metadata"]["name"] for b in of_kind(no_head, "PodDisruptionBudget")] == [
        "grok-grok-serve-workers"
    ]
    assert (
        of_kind(
            template(helm, settings={"podDisruptionBudget.enabled": False}), "PodDisruptionBudget"
        )
        == []
    )
    config = PRODUCTION.serve_config()
    llm = config["applications"][0]["args"]["llm_configs"][0]
    llm["deployment_config"]["autoscaling_config"].update(min_replicas=0, initial_replicas=0)
    scale_to_zero = template(helm, _values(tmp_path, config))
    assert [b["metadata"]["name"] for b in of_kind(scale_to_zero, "PodDisruptionBudget")] == [
        "grok-grok-serve-head"
    ]


# ---- observability --------------------------------------------------------------------------


def test_dashboard_config_map(rendered: list[dict[str, Any]]) -> None:
    """Ray's generated dashboard, byte for byte, under the Grafana sidecar's label."""
    config_map = only(rendered, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "LLM"}
    shipped = (REPO / DASHBOARD).read_text()
    assert config_map["data"] == {"serve-llm.json": shipped.rstrip("\n")}


def _rules(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (group,) = only(rendered, "PrometheusRule")["spec"]["groups"]
    return {r["alert"]: r for r in group["rules"]}


METRIC = re.compile(r"\b(ray_[a-z_]+)\{")


def _ray_metric_names() -> set[str]:
    """Every ray_* series Ray's own Serve and Serve LLM dashboards query, and Serve's replica
    start counter (registered in ray.serve's replica as serve_deployment_replica_starts)."""
    from ray.dashboard.modules.metrics.grafana_dashboard_factory import (
        generate_serve_grafana_dashboard,
        generate_serve_llm_grafana_dashboard,
    )
    from ray.serve._private import replica

    text = generate_serve_llm_grafana_dashboard()[0] + generate_serve_grafana_dashboard()[0]
    names = set(METRIC.findall(text.replace('\\"', '"')))
    assert '"serve_deployment_replica_starts"' in Path(replica.__file__).read_text()
    # Ray exports Counters with a _total suffix, under its ray_ prefix.
    return names | {"ray_serve_deployment_replica_starts_total"}


def test_alert_rules_use_metrics_ray_exports(rendered: list[dict[str, Any]]) -> None:
    """TTFT p99, KV-cache use, replica restarts: each on a series Ray Serve LLM (vLLM 0.29's
    metrics, renamed by Ray) or Serve exports, scoped to this release's clusters."""
    rules = _rules(rendered)
    assert set(rules) == {
        "GrokServeTimeToFirstTokenHigh",
        "GrokServeKVCacheFull",
        "GrokServeReplicaRestarts",
    }
    known = _ray_metric_names()
    used = {name: METRIC.findall(rule["expr"]) for name, rule in rules.items()}
    assert used == {
        "GrokServeTimeToFirstTokenHigh": ["ray_vllm_time_to_first_token_seconds_bucket"],
        "GrokServeKVCacheFull": ["ray_vllm_kv_cache_usage_perc"],
        "GrokServeReplicaRestarts": ["ray_serve_deployment_replica_starts_total"],
    }
    assert {m for ms in used.values() for m in ms} <= known
    for rule in rules.values():
        promql_parser.parse(rule["expr"])  # raises on a syntax error
    for rule in rules.values():
        assert 'namespace="llm", ray_io_cluster=~"grok-grok-serve-.+"' in rule["expr"]
        assert rule["labels"]["severity"] == "warning"
    assert "histogram_quantile(0.99," in rules["GrokServeTimeToFirstTokenHigh"]["expr"]
    assert rules["GrokServeTimeToFirstTokenHigh"]["expr"].endswith("> 5")
    assert rules["GrokServeKVCacheFull"]["expr"].endswith("> 0.95")
    assert "[30m]" in rules["GrokServeReplicaRestarts"]["expr"]


def test_alert_thresholds_are_settings(helm: Path) -> None:
    settings = {
        "prometheusRule.enabled": True,
        "prometheusRule.ttftP99Seconds": 2.5,
        "prometheusRule.kvCacheUsage": 0.9,
        "prometheusRule.replicaStarts": 6,
        "prometheusRule.replicaStartsWindow": "1h",
        "prometheusRule.severity": "critical",
    }
    rules = _rules(template(helm, settings=settings))
    assert rules["GrokServeTimeToFirstTokenHigh"]["expr"].endswith("> 2.5")
    assert rules["GrokServeKVCacheFull"]["expr"].endswith("> 0.9")
    assert rules["GrokServeReplicaRestarts"]["expr"].endswith("> 6")
    assert "[1h]" in rules["GrokServeReplicaRestarts"]["expr"]
    assert {r["labels"]["severity"] for r in rules.values()} == {"critical"}


def test_serve_logs_are_json(plain: list[dict[str, Any]]) -> None:
    """Serve's controller, proxies and replicas log JSON (Ray 2.60 takes the encoding from the
    config's logging_config, which applications inherit), and Ray's schema accepts it."""
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(only(plain, "RayService")["spec"]["serveConfigV2"])
    assert config["logging_config"] == {"encoding": "JSON"}
    parsed = ServeDeploySchema.model_validate(config)
    assert parsed.logging_config is not None and parsed.logging_config.encoding == "JSON"


# ---- weights Job ----------------------------------------------------------------------------


def _job(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    return only(rendered, "Job")


def test_weights_job_mounts(rendered: list[dict[str, Any]]) -> None:
    """The release read-only, the model volume writable (the workers' stays read-only)."""
    pod = _job(rendered)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["release"]["persistentVolumeClaim"] == {
        "claimName": "grok-1-release",
        "readOnly": True,
    }
    assert volumes["model"]["persistentVolumeClaim"] == {
        "claimName": "grok-serve-models",
        "readOnly": False,
    }
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["model"] == {"name": "model", "mountPath": "/models"}
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "grok-weights"


def test_weights_job_name_follows_what_it_does(helm: Path) -> None:
    """A Job's pod template is immutable: a change makes a new Job (the old one is removed by
    helm), an unchanged release keeps the same one."""
    base = {"weights.job.enabled": True, "weights.job.source.claimName": "release"}
    name = _job(template(helm, settings=base))["metadata"]["name"]
    assert name == _job(template(helm, settings=base))["metadata"]["name"]
    moved = _job(template(helm, settings=base | {"image.tag": "0.2.0"}))["metadata"]["name"]
    assert moved != name and len(moved) <= 63


def test_no_wait_for_weights_without_the_job(plain: list[dict[str, Any]]) -> None:
    assert "initContainers" not in pod_template(plain, "workers")["spec"]


def _scripts(helm: Path, tmp_path: Path, release: Path, tokenizer: Path) -> tuple[str, str]:
    """The Job's and the wait-for-weights container's bash scripts, rendered for directories
    under tmp_path standing in for the volumes."""
    models, source = tmp_path / "models", tmp_path / "release"
    source.mkdir()
    (source / "checkpoints").symlink_to(release)
    (source / "tokenizer.model").symlink_to(tokenizer)
    grok = grok_values(PRODUCTION)
    llm = grok["serveConfig"]["applications"][0]["args"]["llm_configs"][0]
    llm["model_loading_config"]["model_source"] = str(models / "grok-1-vllm")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"grok": grok}))
    settings = {
        "model.mountPath": str(models),
        "weights.job.enabled": True,
        "weights.job.source.claimName": "release",
        "weights.job.source.mountPath": str(source),
        "weights.job.source.config": f"checkpoints/{OVERRIDES_FILE}",
    }
    rendered = template(helm, values, settings)
    (job_script,) = _job(rendered)["spec"]["template"]["spec"]["containers"][0]["args"]
    (wait,) = pod_template(rendered, "workers")["spec"]["initContainers"]
    assert wait["name"] == "wait-for-weights"
    return job_script, wait["args"][0]


def _env() -> dict[str, str]:
    """The container's environment as far as it matters: this checkout's grok-ckpt on PATH."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _bash(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a rendered script to its end, as the container would."""
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=timeout, env=_env()
    )


def _still_waiting(script: str, log: Path, within: float = 60) -> bool:
    """Whether the script has said it waits, and is still running, `within` seconds after its
    start; it is stopped (its whole process group: bash and its sleep) either way."""
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", script],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and process.poll() is None:
            if "waiting for the weights Job" in log.read_text():
                return True
            time.sleep(0.2)
        return False
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_weights_job_fills_the_volume_once_and_workers_wait_for_it(
    helm: Path, tmp_path: Path, tiny_release: Path, tokenizer_model: Path
) -> None:
    """The rendered scripts, run for real on a tiny release: the workers' init container
    waits while the model directory is missing, the Job converts, the init container then
    passes, and a second run of the Job (a retry, a re-created Job) changes nothing."""
    job_script, wait_script = _scripts(helm, tmp_path, tiny_release, tokenizer_model)
    out = tmp_path / "models" / "grok-1-vllm"
    assert _still_waiting(wait_script, tmp_path / "wait.log")
    first = _bash(job_script, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "converted" in first.stdout and (out / "config.json").is_file()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    passed = _bash(wait_script, timeout=60)
    assert passed.returncode == 0 and f"{out} is complete" in passed.stdout
    again = _bash(job_script, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{out} is complete: nothing to do" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
