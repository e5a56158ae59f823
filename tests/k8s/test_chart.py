"""The chart lints, renders every shipped values file, and its built-in kinds are valid
Kubernetes objects (kubernetes-validate's bundled schemas, strict: unknown fields rejected)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from ray.autoscaler._private.constants import AUTOSCALER_METRIC_PORT
from ray.dashboard.consts import DASHBOARD_METRIC_PORT

from tests.k8s.chart import (
    ALL_OPTIONS,
    CHART,
    RELEASE,
    Case,
    helm_args,
    named,
    only,
    render_error,
    run_helm,
    template,
)

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas bundled.
_KUBE_RANGE = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
KUBE_VERSIONS = (re.findall(r"\d+\.\d+\.\d+", _KUBE_RANGE)[0], kubernetes_validate.latest_version())


@pytest.mark.parametrize("all_options", [False, True], ids=["as-shipped", "all-options"])
def test_lint_strict(helm: Path, case: Case, all_options: bool) -> None:
    args = helm_args(case.values_file, {}, *([ALL_OPTIONS] if all_options else []))
    result = run_helm(helm, "lint", "--strict", str(CHART), *args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_no_optional_objects(helm: Path) -> None:
    """Ingress, monitors, alerts, dashboard and the weights Job are opt-in: a cluster without
    their CRDs (or Grafana) installs the chart as it is. The disruption budgets are built in."""
    kinds = sorted(o["kind"] for o in template(helm))
    assert kinds == ["PodDisruptionBudget", "PodDisruptionBudget", "RayService"]


def test_renders_everything_enabled(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == [
        "ConfigMap",
        "Ingress",
        "Job",
        "PodDisruptionBudget",
        "PodDisruptionBudget",
        "PodMonitor",
        "PodMonitor",
        "PrometheusRule",
        "RayService",
    ]
    assert all(o["metadata"]["name"].startswith(f"{RELEASE}-") for o in rendered)
    assert all(len(o["metadata"]["name"]) <= 63 for o in rendered)


BUILTIN_GROUPS = ("v1", "networking.k8s.io/v1", "batch/v1", "policy/v1")


def _builtin_objects(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rendered built-in objects, plus those embedded in the RayService: its pod templates (as
    Pods) and its Serve Service."""
    rayservice = only(rendered, "RayService")
    cluster = rayservice["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]]
    templates += [group["template"] for group in cluster["workerGroupSpecs"]]
    pods = [{"apiVersion": "v1", "kind": "Pod", **t} for t in templates]
    serve_service = {"apiVersion": "v1", "kind": "Service", **rayservice["spec"]["serveService"]}
    native = [o for o in rendered if o["apiVersion"] in BUILTIN_GROUPS]
    return [*native, *pods, serve_service]


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_builtin_kinds_validate(
    rendered: list[dict[str, Any]], plain: list[dict[str, Any]], kube_version: str
) -> None:
    objects = _builtin_objects(rendered) + _builtin_objects(plain)
    kinds = {o["kind"] for o in objects}
    assert kinds == {"Service", "Ingress", "Pod", "Job", "ConfigMap", "PodDisruptionBudget"}
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']} {obj.get('metadata', {}).get('name')}: {e}")


def test_ingress_routes_to_kuberay_serve_service(rendered: list[dict[str, Any]]) -> None:
    rayservice, ingress = only(rendered, "RayService"), only(rendered, "Ingress")
    head = rayservice["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    serve_port = {p["name"]: p["containerPort"] for p in head["containers"][0]["ports"]}["serve"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            service = path["backend"]["service"]
            assert service["name"] == f"{rayservice['metadata']['name']}-serve-svc"
            assert service["port"]["number"] == serve_port


def _pod_templates(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The RayService's pod templates by group: head and worker."""
    cluster = only(rendered, "RayService")["spec"]["rayClusterConfig"]
    (worker,) = cluster["workerGroupSpecs"]
    return {"head": cluster["headGroupSpec"]["template"], "worker": worker["template"]}


def test_pod_monitors_scrape_what_kuberay_documents(rendered: list[dict[str, Any]]) -> None:
    """Head: metrics, as-metrics, dash-metrics; workers: metrics; each selects its group's pods
    by labels the pod templates carry, names ports the Ray container declares, and copies
    KubeRay's ray.io/cluster pod label into ray_io_cluster (what Ray's dashboards filter by)."""
    pods = _pod_templates(rendered)
    ports = {"head": ["metrics", "as-metrics", "dash-metrics"], "worker": ["metrics"]}
    for group, pod in pods.items():
        monitor = named(rendered, "PodMonitor", f"-{group}")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        other = pods["worker" if group == "head" else "head"]
        assert not selector.items() <= other["metadata"]["labels"].items()
        endpoints = monitor["spec"]["podMetricsEndpoints"]
        assert [e["port"] for e in endpoints] == ports[group]
        declared = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        assert declared["metrics"] == 8080
        if group == "head":  # where Ray 2.60's autoscaler and dashboard export
            assert declared["as-metrics"] == AUTOSCALER_METRIC_PORT
            assert declared["dash-metrics"] == DASHBOARD_METRIC_PORT
        for endpoint in endpoints:
            assert endpoint["port"] in declared
            (relabel,) = endpoint["relabelings"]
            assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_label_ray_io_cluster"]
            assert relabel["targetLabel"] == "ray_io_cluster"
        assert monitor["metadata"]["labels"]["release"] == "prometheus"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"apiKey.value": "s3cret"}, "additional properties 'value' not allowed"),
        ({"env[0].name": "HF_TOKEN", "env[0].value": "s3cret"}, "/env/0': 'not' failed"),
        ({"head.env[0].name": "AWS_SECRET_ACCESS_KEY", "head.env[0].value": "s"}, "'not' failed"),
        ({"rayService.upgradeStrategy.type": "Recreate"}, "NewCluster"),
        ({"model.claimName": ""}, "set model.claimName"),
        ({"rayService.initializingTimeout": "soon"}, "initializingTimeout"),
        # Knobs that used to re-derive the Serve config are gone, not silently ignored.
        ({"grok.tensorParallel": 4}, "additional properties 'tensorParallel' not allowed"),
        ({"workers.maxReplicas": 8}, "additional properties 'maxReplicas' not allowed"),
        ({"head.sidecarContainers[0].name": "ray-head"}, "is the chart's Ray container's"),
        (
            {"workers.volumes[0].name": "model", "workers.volumes[0].emptyDir.medium": ""},
            "is the chart's own",
        ),
        ({"head.terminationGracePeriodSeconds": -1}, "terminationGracePeriodSeconds"),
        ({"weights.job.enabled": True}, "weights.job.source: set claimName"),
        ({"podDisruptionBudget.workersMinAvailable": "50%"}, "workersMinAvailable"),
        ({"grafanaDashboard.labels": None}, "grafanaDashboard"),
        ({"prometheusRule.kvCacheUsage": 95}, "kvCacheUsage"),
    ],
)
def test_bad_values_fail_the_render(helm: Path, settings: dict[str, Any], message: str) -> None:
    """Mistakes that would surface only on the cluster (or leak a secret) stop `helm` instead."""
    assert message in render_error(helm, settings)


@pytest.mark.parametrize("all_options", [False, True], ids=["as-shipped", "all-options"])
def test_install_notes(helm: Path, case: Case, all_options: bool) -> None:
    """What `helm install` prints is filled from the Serve config (a missing value would print
    `<no value>`), and says where traffic goes under incremental upgrades."""
    args = helm_args(case.values_file, {}, *([ALL_OPTIONS] if all_options else []))
    result = run_helm(helm, "install", RELEASE, str(CHART), "-n", "llm", "--dry-run=client", *args)
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "<no value>" not in notes
    accelerator = case.spec.accelerator_type
    assert f"Grok-1 ({accelerator}, " in notes
    assert ("grok-grok-serve-gateway, class istio" in notes) == all_options
