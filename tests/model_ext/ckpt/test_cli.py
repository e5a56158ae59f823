"""`grok-ckpt inspect` and `make-tiny` as a user runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_ext.ckpt.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_inspect_reports_complete_directories(converted: Path, tiny_release: Path) -> None:
    proc = _cli("inspect", str(converted))
    assert proc.returncode == 0, proc.stderr
    assert "kind: converted (int8 kept)" in proc.stdout
    # The tiny model's attention output has scale blocks of 48 rows: no served group size fits.
    assert "stored: attention q/k/v: int8 W8A16, group size 32" in proc.stdout
    assert "stored: attention output: int8 + release block scales" in proc.stdout
    assert "complete: yes" in proc.stdout
    proc = _cli("inspect", str(tiny_release))
    assert proc.returncode == 0, proc.stderr
    assert "release checkpoint" in proc.stdout and "layers: 12" in proc.stdout


def test_inspect_names_what_is_missing(converted: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(converted, broken)
    (broken / "model-00005-of-00013.safetensors").unlink()
    proc = _cli("inspect", str(broken))
    assert proc.returncode == 1
    assert "complete: NO" in proc.stdout
    assert "model-00005-of-00013.safetensors: shard missing" in proc.stdout
    assert "tensors missing" in proc.stdout


def test_make_tiny_writes_the_release_layout(tmp_path: Path) -> None:
    proc = _cli("make-tiny", str(tmp_path / "t"), "--layers", "11")
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (tmp_path / "t" / "ckpt-0").iterdir())
    assert files[0] == "tensor00000_000" and files[-1] == "tensor00133_000"  # 2 + 12 * 11
    assert (tmp_path / "t" / "tiny-config.json").exists()
