"""Serve a config on this machine: a local Ray head with enough logical CPUs, then `serve run`.

`serve run` alone would start Ray with one logical CPU per core; on a small machine the ingress
replica then cannot be scheduled beside the engine's placement group. This starts the head
itself (unless one is already listening on the port), runs `serve run` in the foreground, and
stops the head it started when `serve run` ends (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger("grok-serve")


def _ray_bin(name: str) -> str:
    """The `ray`/`serve` executable of this interpreter's environment."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _head_running(address: str) -> bool:
    probe = subprocess.run(
        [_ray_bin("ray"), "status", "--address", address], capture_output=True, timeout=60
    )
    return probe.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "config", type=Path, help="Serve config file, e.g. deployments/grok-tiny.yaml"
    )
    parser.add_argument("--num-cpus", type=int, default=max(8, os.cpu_count() or 1))
    parser.add_argument("--ray-port", type=int, default=6379)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    address = f"127.0.0.1:{args.ray_port}"
    started = False
    if not _head_running(address):
        logger.info("starting a Ray head on %s with %d logical CPUs", address, args.num_cpus)
        subprocess.run(
            [
                _ray_bin("ray"),
                "start",
                "--head",
                f"--port={args.ray_port}",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={args.num_cpus}",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ],
            check=True,
        )
        started = True
    # A supervisor's SIGTERM gets the same clean shutdown as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    serve = subprocess.Popen([_ray_bin("serve"), "run", "--address", address, str(args.config)])
    try:
        return serve.wait()
    except KeyboardInterrupt:
        serve.send_signal(signal.SIGINT)
        return serve.wait(timeout=120)
    finally:
        if started:
            logger.info("stopping the Ray head on %s", address)
            subprocess.run([_ray_bin("ray"), "stop"], capture_output=True, timeout=120)


if __name__ == "__main__":
    sys.exit(main())
