"""Everything a command started, and proof that it is gone after the command was stopped.

Ray nodes run in sessions of their own (`ray start --block` children, raylet, GCS, workers), so
"everything" is the command's descendants plus every process sharing a session with one of
them: a process re-parented to init still counts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil


def started_by(*pids: int) -> set[psutil.Process]:
    """The processes `pids` and their descendants, and every process in one of their sessions
    (other than this test process's own)."""
    procs: set[psutil.Process] = set()
    for pid in pids:
        root = psutil.Process(pid)
        procs |= {root, *root.children(recursive=True)}
    return procs | in_sessions(sessions_of(procs))


def sessions_of(procs: set[psutil.Process]) -> set[int]:
    """The sessions of `procs`, other than this test process's own."""
    sessions = set()
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            sessions.add(os.getsid(proc.pid))
    sessions.discard(os.getsid(0))
    return sessions


def in_sessions(sessions: set[int]) -> set[psutil.Process]:
    """Every process now in one of `sessions`: also those started after a snapshot (Serve
    reloads HAProxy, a new process, while it shuts down)."""
    procs = set()
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) in sessions:
                procs.add(proc)
        except (ProcessLookupError, psutil.Error):
            pass
    return procs


def running(procs: set[psutil.Process]) -> list[str]:
    """Command lines of those of `procs` still running (zombies count as gone)."""
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(proc.cmdline()[:3]))
        except psutil.Error:
            pass
    return alive


def terminate_and_time(
    processes: list[subprocess.Popen], sig: int = signal.SIGTERM, limit: float = 60
) -> tuple[float, list[str]]:
    """Send `sig` to each of `processes` (not their groups: the command must pass it on),
    wait until everything they started is gone or `limit` s pass; return the seconds it took
    and what was left."""
    tree: set[psutil.Process] = set()
    for process in processes:
        if process.poll() is None:
            tree |= started_by(process.pid)
    sessions = sessions_of(tree)
    start = time.monotonic()
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    while running(tree | in_sessions(sessions)) and time.monotonic() - start < limit:
        time.sleep(0.5)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(1.0, limit - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    tree |= in_sessions(sessions)
    left = running(tree)
    for proc in tree:  # never leave a cluster behind, even when the test fails
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return elapsed, left
