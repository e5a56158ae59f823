"""`grok-ckpt inspect`, `make-tiny` and `convert`'s failures as a user runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_ext.ckpt.tiny import OVERRIDES_FILE
from model_ext.release.layout import file_index, tensor_file_name
from model_ext.release.pickle_writer import write_release_tensor
from tests.conftest import TINY


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


CONVERT_FAILURES = {
    # case: (what the one error line must say, after the file it names)
    "malformed-overrides": r"overrides\.json: cannot read config overrides \(Expecting",
    "overrides-not-an-object": r"overrides\.json: config overrides must be a JSON object",
    "override-contradicts-tensors": r"config override hidden_size=7 contradicts the checkpoint",
    "output-under-a-file": r"/a-file/out: cannot write \(Not a directory\)",
    "read-only-output-disk": r"/disk/out: cannot write \(Read-only file system\)",
    "matrix-of-the-wrong-kind": (
        r"/ckpt-0/tensor\d+_000: holds float32\[.*\], but .*query:w must be int8"
    ),
}


@pytest.mark.parametrize("case", list(CONVERT_FAILURES))
def test_convert_failures_are_one_line_and_exit_2(
    case: str,
    tiny_release: Path,
    tokenizer_model: Path,
    tmp_path: Path,
    tmpfs: Callable[[str], Path],
) -> None:
    """Every way `convert` can fail on its input or its output disk ends the same way: one
    line naming the file and the problem, exit status 2, no traceback, nothing written."""
    src, out = tiny_release, tmp_path / "out"
    overrides = tmp_path / "overrides.json"
    shutil.copyfile(tiny_release / OVERRIDES_FILE, overrides)
    if case == "malformed-overrides":
        overrides.write_text('{"vocab_size": 512,')
    elif case == "overrides-not-an-object":
        overrides.write_text("[512]")
    elif case == "override-contradicts-tensors":
        overrides.write_text(json.dumps({**json.loads(overrides.read_text()), "hidden_size": 7}))
    elif case == "output-under-a-file":
        (tmp_path / "a-file").write_text("")
        out = tmp_path / "a-file" / "out"
    elif case == "read-only-output-disk":
        out = tmpfs("ro") / "out"
    else:
        src = tmp_path / "src"
        shutil.copytree(tiny_release, src, copy_function=os.link)
        target = src / "ckpt-0" / tensor_file_name(file_index(0, "q_proj", TINY.num_layers))
        target.unlink()
        write_release_tensor(target, np.zeros((TINY.hidden, TINY.hidden), np.float32))
    proc = _cli(
        "convert", "xai", str(src), str(out), "--tokenizer", str(tokenizer_model),
        "--config", str(overrides), "--quiet",
    )  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if line.startswith("grok-ckpt: error:")]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(errors) == 1, proc.stderr
    assert re.search(CONVERT_FAILURES[case], errors[0]), errors[0]
    assert not (out / "config.json").exists()
