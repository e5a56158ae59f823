"""The chart lints, renders every shipped values file, and its built-in kinds are valid
Kubernetes objects (kubernetes-validate's bundled schemas, strict: unknown fields rejected)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.k8s.chart import (
    ALL_OPTIONAL,
    CHART,
    NAMESPACE,
    RELEASE,
    Case,
    helm_args,
    only,
    run_helm,
    template,
)

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas bundled.
_KUBE_RANGE = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
KUBE_VERSIONS = (re.findall(r"\d+\.\d+\.\d+", _KUBE_RANGE)[0], kubernetes_validate.latest_version())


def test_lint_strict(helm: Path, case: Case) -> None:
    args = helm_args(case.values_file, ALL_OPTIONAL)
    result = run_helm(helm, "lint", "--strict", str(CHART), *args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_only_the_rayservice(helm: Path) -> None:
    """Ingress and ServiceMonitor are opt-in: a cluster without them needs neither CRD."""
    assert [o["kind"] for o in template(helm)] == ["RayService"]


def test_renders_everything_enabled(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == ["Ingress", "RayService", "Service", "ServiceMonitor"]
    assert all(o["metadata"]["name"].startswith(f"{RELEASE}-") for o in rendered)


def _builtin_objects(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rendered built-in objects, plus those embedded in the RayService: its pod templates (as
    Pods) and its Serve Service."""
    rayservice = only(rendered, "RayService")
    cluster = rayservice["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]]
    templates += [group["template"] for group in cluster["workerGroupSpecs"]]
    pods = [{"apiVersion": "v1", "kind": "Pod", **t} for t in templates]
    serve_service = {"apiVersion": "v1", "kind": "Service", **rayservice["spec"]["serveService"]}
    native = [o for o in rendered if o["apiVersion"] in ("v1", "networking.k8s.io/v1")]
    return [*native, *pods, serve_service]


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_builtin_kinds_validate(rendered: list[dict[str, Any]], kube_version: str) -> None:
    objects = _builtin_objects(rendered)
    assert {o["kind"] for o in objects} == {"Service", "Ingress", "Pod"}
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


def test_service_monitor_scrapes_every_ray_pod(rendered: list[dict[str, Any]]) -> None:
    monitor, service = only(rendered, "ServiceMonitor"), only(rendered, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    cluster = only(rendered, "RayService")["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        pod = group["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        container_ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
        assert port["targetPort"] in container_ports


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"apiKey.value": "s3cret"}, "additional properties 'value' not allowed"),
        ({"env[0].name": "HF_TOKEN", "env[0].value": "s3cret"}, "/env/0': 'not' failed"),
        ({"rayService.upgradeStrategy": "Recreate"}, "NewCluster"),
        ({"model.claimName": ""}, "set model.claimName"),
        ({"grok.tensorParallel": 12}, "must fill whole pods"),
        ({"workers.maxReplicas": 0}, "maxReplicas >= the 1 pod"),
        ({"rayService.initializingTimeout": "soon"}, "initializingTimeout"),
    ],
)
def test_bad_values_fail_the_render(helm: Path, settings: dict[str, Any], message: str) -> None:
    """Mistakes that would surface only on the cluster (or leak a secret) stop `helm` instead."""
    result = run_helm(
        helm, "template", RELEASE, str(CHART), "-n", NAMESPACE, *helm_args(None, settings)
    )
    assert result.returncode != 0
    assert message in result.stderr
