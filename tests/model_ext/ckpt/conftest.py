"""A real small or read-only output disk for the converter's failure tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount (or, with "remount,...", change) a tmpfs with the given mount options and return
    its path: `size=N` is a disk that really fills, `ro` one that refuses every write, also to
    root. Skipped where this process may not mount (CI and the developers' machines run as
    root, so there it runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = False

    def mount_with(options: str) -> Path:
        nonlocal mounted
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted = True
        return mount

    yield mount_with
    if mounted:
        subprocess.run(["umount", str(mount)], check=False)
