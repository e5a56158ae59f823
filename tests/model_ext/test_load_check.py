"""A checkpoint that misnames or lacks a tensor is refused with the names, never half-loaded.

The check runs on checkpoint names before vLLM sees them (model_ext.load_check), so it is the
same code with and without quantisation; the engine tests below take the CPU path (int8 expanded
at load), the name tests cover the int8-kept names the CUDA path loads as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from model_ext.ckpt.expected import expected_tensors
from model_ext.load_check import CheckpointNames, IncompleteCheckpointError
from tests.conftest import REPO

RENAMED_FROM = "model.layers.3.moe_block.experts.5.linear.weight_packed"
RENAMED_TO = "model.layers.3.moe_block.experts.5.linear_x.weight_packed"
DROPPED = "model.layers.7.moe_block.experts.2.linear_1.weight_scale"


def _names(model_dir: Path) -> list[str]:
    found: list[str] = []
    for shard in sorted(model_dir.glob("*.safetensors")):
        with safe_open(shard, "pt") as f:
            found.extend(f.keys())
    return found


def _config(model_dir: Path) -> dict:
    return json.loads((model_dir / "config.json").read_text())


def _check(config: dict, found: list[str], layers: range | None = None, **stage: bool) -> None:
    layers = range(config["num_hidden_layers"]) if layers is None else layers
    names = CheckpointNames(config, layers, stage.get("embedding", True), stage.get("final", True))
    for _ in names.filter((name, None) for name in found):  # type: ignore[misc]
        pass
    names.check()


def test_converted_int8_and_dense_layouts_are_complete(converted: Path) -> None:
    config = _config(converted)
    int8_names = _names(converted)
    assert any(n.endswith(".weight_packed") for n in int8_names)
    _check(config, int8_names)
    dense = {k: v for k, v in config.items() if k != "quantization_config"}
    _check(dense, list(expected_tensors(dense)))
    # One matrix kept dense in an int8 checkpoint (a converter may do that per matrix).
    base = "model.layers.0.attn.o_proj"
    mixed = [n for n in int8_names if not n.startswith(base + ".")] + [base + ".weight"]
    _check(config, mixed)


def test_renamed_and_missing_tensors_are_named(converted: Path) -> None:
    found = [RENAMED_TO if n == RENAMED_FROM else n for n in _names(converted) if n != DROPPED]
    with pytest.raises(IncompleteCheckpointError) as error:
        _check(_config(converted), found)
    message = str(error.value)
    assert f"2 missing: {RENAMED_FROM}, {DROPPED}" in message
    assert f"1 unexpected: {RENAMED_TO}" in message


def test_a_pipeline_stage_needs_only_its_own_layers(converted: Path) -> None:
    config = _config(converted)
    found = _names(converted)
    first_half = [
        n
        for n in found
        if n != "model.norm.scale" and not any(f"layers.{i}." in n for i in range(6, 12))
    ]
    _check(config, first_half, range(0, 6), embedding=True, final=False)
    with pytest.raises(IncompleteCheckpointError, match="missing: model.norm.scale"):
        _check(config, first_half, range(0, 6), embedding=True, final=True)


def _broken_copy(converted: Path, out: Path, rename: dict[str, str], drop: set[str]) -> Path:
    """A copy of `converted` (shards linked) with one shard rewritten: names renamed/dropped."""
    out.mkdir(parents=True)
    index = json.loads((converted / "model.safetensors.index.json").read_text())
    touched = {index["weight_map"][n] for n in (*rename, *drop)}
    for item in converted.iterdir():
        if item.name in touched:
            tensors = load_file(item)
            for name in drop:
                tensors.pop(name, None)
            for old, new in rename.items():
                if old in tensors:
                    tensors[new] = tensors.pop(old)
            save_file(tensors, out / item.name, metadata={"format": "pt"})
        elif item.suffix == ".safetensors":
            os.symlink(item, out / item.name)
        elif item.name != "model.safetensors.index.json":
            shutil.copyfile(item, out / item.name)
    weight_map = {rename.get(n, n): f for n, f in index["weight_map"].items() if n not in drop}
    (out / "model.safetensors.index.json").write_text(
        json.dumps({**index, "weight_map": weight_map})
    )
    return out


@pytest.mark.parametrize(
    ("rename", "drop", "named"),
    [
        ({RENAMED_FROM: RENAMED_TO}, set(), [RENAMED_FROM, RENAMED_TO]),
        ({}, {DROPPED}, [DROPPED]),
    ],
    ids=["renamed", "missing"],
)
def test_engine_refuses_a_broken_checkpoint_naming_the_tensors(
    converted: Path,
    tmp_path: Path,
    rename: dict[str, str],
    drop: set[str],
    named: list[str],
) -> None:
    model = _broken_copy(converted, tmp_path / "broken", rename, drop)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.model_ext.engine_runner",
            "--model",
            str(model),
            "--eager",
            "--requests",
            json.dumps({"score": [[5, 6, 7]], "texts": []}),
            "--out",
            str(tmp_path / "result.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "checkpoint does not match the Grok-1 model" in output, output[-4000:]
    for name in named:
        assert name in output
