"""Serve a config on this machine: a private local Ray head, then `serve run` against it.

`serve run deployments/grok-tiny.yaml` alone works too; this is the convenience behind
`make serve` and the CPU container image. It starts a single-host head (loopback only, so the
machine's outward address is never used), runs `serve run` against it in the foreground, and
stops both when `serve run` ends or on Ctrl-C/SIGTERM (within SERVE_STOP_S and a few seconds).
Other Ray clusters on the machine are left alone. Token authentication is decided once for
head and client (`pin_auth_mode`), so a `~/.ray/auth_token` left by an earlier plain
`serve run` is used by both.

Ray reads Serve's data-path switches (HAProxy, direct streaming) from its environment when it
starts, so for a config rendered from `deployments/spec.py` the spec's `serve_env` is set for the
head and `serve run` (a variable already in the environment wins, e.g.
`RAY_SERVE_ENABLE_HA_PROXY=0 make serve` for Serve's default proxy).

`--host`/`--port` override where the config's HTTP proxy listens (a container serves on
0.0.0.0) without editing the spec: the config is copied with those two fields changed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import yaml

from deployments.ray_node import (
    SINGLE_HOST_IP,
    NodeSpec,
    RayNode,
    pin_auth_mode,
    ray_bin,
    spawn,
    stop_group,
    wait_for_nodes,
)
from deployments.spec import CONFIG_FILES

logger = logging.getLogger("grok-serve")

# `serve run` gets this long to shut its apps down after Ctrl-C (the tiny replica's graceful
# shutdown alone may wait 120 s for requests); then its group is killed and the head stopped,
# which ends every replica with it.
SERVE_STOP_S = 20.0


def with_http_overrides(config: Path, host: str | None, port: int | None, out_dir: Path) -> Path:
    """`config` itself, or a copy of it in `out_dir` with http_options.host/port replaced."""
    if host is None and port is None:
        return config
    data = yaml.safe_load(config.read_text())
    http = data.setdefault("http_options", {})
    if host is not None:
        http["host"] = host
    if port is not None:
        http["port"] = port
    copy = out_dir / config.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    logger.info("serving %s on %s:%s", config, http.get("host"), http.get("port"))
    return copy


def apply_serve_env(config: Path) -> dict[str, str]:
    """Put the spec's `serve_env` of a rendered config into this process's environment (which
    the head and `serve run` inherit), leaving variables the user set alone; returns what was
    set."""
    spec = CONFIG_FILES.get(config.name)
    added = {k: v for k, v in (spec.serve_env if spec else {}).items() if k not in os.environ}
    os.environ.update(added)
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="Serve config, e.g. deployments/grok-tiny.yaml")
    parser.add_argument("--num-cpus", type=float, help="default: Ray's count of this host's cores")
    parser.add_argument("--ray-port", type=int, default=6379)
    parser.add_argument("--host", help="HTTP host to serve on instead of the config's")
    parser.add_argument("--port", type=int, help="HTTP port to serve on instead of the config's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="grok-serve-"))
    config = with_http_overrides(args.config, args.host, args.port, work)
    if serve_env := apply_serve_env(args.config):
        chosen = " ".join(f"{k}={v}" for k, v in serve_env.items())
        logger.info("Serve data path from the spec: %s", chosen)
    address = f"{SINGLE_HOST_IP}:{args.ray_port}"
    logger.info("Ray token authentication: %s", pin_auth_mode())
    log = work / "ray-head.log"
    logger.info("starting a Ray head on %s (log: %s)", address, log)
    serve = None
    # No drain on stop: nothing but this machine's `serve run` routes to this private head.
    spec = NodeSpec(args.num_cpus, port=args.ray_port, node_ip=SINGLE_HOST_IP, drain_timeout_s=0)
    head = RayNode(spec, log)
    try:
        wait_for_nodes(address, [head])
        serve = spawn([ray_bin("serve"), "run", "--address", address, str(config)])
        return serve.wait()
    except KeyboardInterrupt:
        logger.info("stopping: serve run, then the Ray head")
        return 130
    except Exception as exc:  # noqa: BLE001 - Ray's own error, one line, not a traceback
        logger.error("%s: %s", type(exc).__name__, exc)
        return 1
    finally:
        if serve is not None:
            stop_group(serve, signal.SIGINT, SERVE_STOP_S)
        head.stop()
        logger.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
