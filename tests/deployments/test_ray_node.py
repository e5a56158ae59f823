"""`ray start` command lines: only the flags given, Ray's real GPU resource; the http override."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deployments.ray_node import NodeSpec, forget_head_address
from deployments.serve_local import with_http_overrides
from deployments.spec import TINY

TINY_CONFIG = Path(__file__).resolve().parents[2] / "deployments" / "grok-tiny.yaml"


def flags(spec: NodeSpec) -> list[str]:
    return spec.command()[2:]  # after "<bin>/ray start"


def test_defaults_pass_no_flag_for_ray_to_decide() -> None:
    assert flags(NodeSpec()) == [
        "--block",
        "--disable-usage-stats",
        "--head",
        "--port=6379",
        "--include-dashboard=false",
    ]
    worker = flags(NodeSpec(address="10.0.0.1:6379"))
    assert worker == ["--block", "--disable-usage-stats", "--address=10.0.0.1:6379"]
    assert not any("None" in f for f in flags(NodeSpec(address="h:1")) + flags(NodeSpec()))


def test_gpus_are_rays_gpu_resource_not_a_custom_one() -> None:
    cmd = flags(NodeSpec(address="h:6379", num_gpus=8, node_ip="127.0.0.4"))
    assert "--num-gpus=8" in cmd and "--node-ip-address=127.0.0.4" in cmd
    assert not any(f.startswith("--resources") or f.startswith("--num-cpus") for f in cmd)
    assert "--num-cpus=0" in flags(NodeSpec(0))
    assert "--num-cpus=0.5" in flags(NodeSpec(0.5))


def test_head_dashboard_listens_where_told() -> None:
    cmd = flags(NodeSpec(dashboard_port=8265, dashboard_host="127.0.0.3"))
    assert "--dashboard-host=127.0.0.3" in cmd and "--dashboard-port=8265" in cmd


def test_http_override_changes_only_host_and_port(tmp_path: Path) -> None:
    assert with_http_overrides(TINY_CONFIG, None, None, tmp_path) == TINY_CONFIG
    copy = with_http_overrides(TINY_CONFIG, "0.0.0.0", 8080, tmp_path)
    original, changed = yaml.safe_load(TINY_CONFIG.read_text()), yaml.safe_load(copy.read_text())
    assert changed["http_options"] == {**original["http_options"], "host": "0.0.0.0", "port": 8080}
    assert changed["applications"] == original["applications"]


def test_tiny_app_fits_two_cores() -> None:
    """What Ray reserves for the tiny app: engine bundle + replica actor (bundle 0) + ingress."""
    (app,) = TINY.serve_config()["applications"]
    (llm,) = app["args"]["llm_configs"]
    bundles = llm["placement_group_config"]["bundles"]
    replica = llm["deployment_config"]["ray_actor_options"]["num_cpus"]
    ingress = app["args"]["ingress_deployment_config"]["ray_actor_options"]["num_cpus"]
    assert sum(b["CPU"] for b in bundles) + replica + ingress <= 2


def _pinned(home: Path, **env: str) -> subprocess.CompletedProcess:
    """pin_auth_mode() in a fresh interpreter (Ray caches its config per process)."""
    code = "from deployments.ray_node import pin_auth_mode; print(pin_auth_mode())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "HOME": str(home), **env},
        capture_output=True,
        text=True,
    )


def test_auth_mode_follows_ray_and_a_missing_token_is_rays_error(tmp_path: Path) -> None:
    assert _pinned(tmp_path).stdout.strip() == "disabled"
    missing = _pinned(tmp_path, RAY_AUTH_MODE="token")
    assert missing.returncode != 0 and "no authentication token was found" in missing.stderr
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("0123456789abcdef0123456789abcdef")
    assert _pinned(tmp_path).stdout.strip() == "token"  # what `ray start --head` would pick
    assert _pinned(tmp_path, RAY_AUTH_MODE="disabled").stdout.strip() == "disabled"


def test_stop_waits_for_rays_drain_but_stays_within_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", raising=False)
    assert NodeSpec().stop_timeout() == 45  # Ray's 30 s drain + margin, < 60 s
    private = NodeSpec(drain_timeout_s=0)
    assert private.env()["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] == "0"
    assert private.stop_timeout() == 15
    assert "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S" not in NodeSpec().env()


def test_a_stopped_head_is_forgotten_but_not_a_newer_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray's address file (what a plain `serve run` joins) loses a stopped head's address only."""
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    address_file = tmp_path / "ray" / "ray_current_cluster"
    address_file.parent.mkdir()
    head = NodeSpec(port=6390, node_ip="127.0.0.2")
    for newer in ("127.0.0.2:6379", "127.0.0.3:6390"):
        address_file.write_text(newer)
        forget_head_address(head)
        assert address_file.read_text() == newer
    address_file.write_text("127.0.0.2:6390")
    forget_head_address(head)
    assert not address_file.exists()
    forget_head_address(head)  # nothing to remove: no error
