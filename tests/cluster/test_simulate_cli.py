"""`grok-cluster simulate` in the foreground: a SIGTERM stops it and every Ray process of its
nodes within 60 s."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.process_tree import terminate_and_time

REPO = Path(__file__).resolve().parents[2]


def test_sigterm_stops_the_simulated_cluster(tmp_path: Path) -> None:
    log = tmp_path / "simulate.log"
    cmd = [sys.executable, "-m", "cluster.cli", "simulate", "--workers", "1", "--port", "6410"]
    cmd += ["--dashboard-port", "8267"]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while "cluster at" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            terminate_and_time([process])
            pytest.fail(f"simulate did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(1)
    elapsed, left = terminate_and_time([process])
    assert left == [] and elapsed < 60, (elapsed, left)
    assert process.returncode == 0
    print(f"grok-cluster simulate: stopped {elapsed:.1f} s after SIGTERM")
