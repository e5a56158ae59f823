"""`grok-ckpt convert xai`: lossless int8, release file order, resumption, and bad input."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from model_ext.ckpt.convert import ConversionError, convert_release, verify_model_dir
from model_ext.ckpt.tiny import OVERRIDES_FILE
from model_ext.int8_weights import dequantize_blocks, dequantize_packed
from model_ext.release.layout import file_index, tensor_file_name
from model_ext.release.pickle_writer import write_release_tensor
from tests.conftest import TINY
from tests.grok_reference import ReleaseParams


def _tensor(model_dir: Path, name: str) -> torch.Tensor:
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    with safe_open(str(model_dir / index["weight_map"][name]), framework="pt") as f:
        return f.get_tensor(name)


def _overrides(release: Path) -> dict[str, int]:
    return json.loads((release / OVERRIDES_FILE).read_text())


def _linked_copy(release: Path, dest: Path) -> Path:
    """A copy of the release dir sharing file data; replace files by unlinking first."""
    shutil.copytree(release, dest, copy_function=os.link)
    return dest


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def test_converted_directory_is_complete(converted: Path) -> None:
    assert verify_model_dir(converted, check_hashes=True) == []
    config = json.loads((converted / "config.json").read_text())
    assert config["model_type"] == "grok-1"
    assert config["architectures"] == ["Grok1ForCausalLM"]
    assert config["head_dim"] == TINY.head_dim
    assert config["num_hidden_layers"] == TINY.num_layers
    assert config["vocab_size"] == TINY.vocab
    groups = config["quantization_config"]["config_groups"]["group_0"]["weights"]
    assert (groups["num_bits"], groups["symmetric"], groups["strategy"]) == (8, True, "group")
    assert not (converted / ".grok-ckpt-progress.json").exists()


@pytest.mark.parametrize("layer", [2, 10])  # lexicographic ranks 4 and 2: order matters
def test_int8_weights_are_kept_exactly(
    converted: Path, reference: ReleaseParams, layer: int
) -> None:
    """Every stored matrix dequantises to exactly the release's int8 x (block) scale, in
    whichever form it is stored: W8A16 groups, or (the tiny model's attention output, whose
    48-row scale blocks no served group size divides) int8 with the release's block scales."""
    prefix = f"model.layers.{layer}."
    packed = _tensor(converted, prefix + "attn.q_proj.weight_packed")
    assert packed.dtype == torch.int32  # int8 kept: 1 byte per weight
    dense = dequantize_packed(packed, _tensor(converted, prefix + "attn.q_proj.weight_scale"))
    assert torch.equal(dense.double(), reference[(layer, "q_proj")].T)
    int8 = _tensor(converted, prefix + "attn.o_proj.weight_int8")
    assert int8.dtype == torch.int8
    dense = dequantize_blocks(int8, _tensor(converted, prefix + "attn.o_proj.weight_block_scale"))
    assert torch.equal(dense.double(), reference[(layer, "o_proj")].T)
    for expert in (0, 7):
        module = f"{prefix}moe_block.experts.{expert}.linear_1"
        dense = dequantize_packed(
            _tensor(converted, module + ".weight_packed"),
            _tensor(converted, module + ".weight_scale"),
        )
        assert torch.equal(dense.double(), reference[(layer, "moe_down_proj")][expert].T)
    router = _tensor(converted, prefix + "moe_block.gate.weight")
    assert router.dtype == torch.float32
    assert torch.equal(router.double(), reference[(layer, "router")].T)


def test_full_disk_fails_cleanly_and_the_rerun_resumes(
    tiny_release: Path, tokenizer_model: Path, converted: Path, tmpfs: Callable[[str], Path]
) -> None:
    """The output disk fills midway: one error naming the file, finished shards kept; with room
    again the same command converts only the rest, bit-identically to a clean run."""
    sizes = sorted(p.stat().st_size for p in converted.glob("model-*.safetensors"))
    layer, embedding = sizes[0], sizes[-1]
    # Room for the embedding shard and about half the layer shards.
    disk = tmpfs(f"size={embedding + layer * TINY.num_layers // 2}")
    out = disk / "out"
    # Whichever file the disk fills on (a shard, or the progress file between shards), the
    # message names that file, not only the directory.
    full = rf"^{out}/\S+: cannot write \(No space left on device\)$"
    with pytest.raises(ConversionError, match=full):
        convert_release(tiny_release, out, tokenizer_model, _overrides(tiny_release), False)
    assert (out / ".grok-ckpt-progress.json").exists()
    assert not (out / "config.json").exists()

    tmpfs(f"remount,size={2 * sum(sizes)}")
    result = convert_release(tiny_release, out, tokenizer_model, _overrides(tiny_release), False)
    assert result.shards_resumed >= 2 and result.shards_written >= 1
    assert result.shards_resumed + result.shards_written == TINY.num_layers + 1
    ours = json.loads((out / "checksums.json").read_text())
    assert ours == json.loads((converted / "checksums.json").read_text())


def _foreign_pickle(marker: Path) -> bytes:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    return pickle.dumps(Exploit(), protocol=4)


@pytest.mark.parametrize("problem", ["truncated", "wrong-shape", "missing", "foreign-class"])
def test_bad_release_files_are_named_and_nothing_runs(
    tiny_release: Path, tokenizer_model: Path, tmp_path: Path, problem: str
) -> None:
    src = _linked_copy(tiny_release, tmp_path / "src")
    target = src / "ckpt-0" / tensor_file_name(file_index(3, "q_proj", TINY.num_layers))
    marker = tmp_path / "pwned"
    if problem == "truncated":
        _replace(target, target.read_bytes()[:-1000])
        expected = "truncated"
    elif problem == "wrong-shape":
        target.unlink()
        write_release_tensor(target, np.zeros((TINY.hidden, 5), np.float32))
        expected = "must be int8"
    elif problem == "missing":
        target.unlink()
        expected = "missing"
    else:
        _replace(target, _foreign_pickle(marker))
        expected = "posix.system"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "model_ext.ckpt.cli",
            "convert",
            "xai",
            str(src),
            str(tmp_path / "out"),
            "--tokenizer",
            str(tokenizer_model),
            "--config",
            str(src / OVERRIDES_FILE),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("grok-ckpt: error:")
    assert target.name in error and expected in error
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_override_contradicting_tensors_is_refused(
    tiny_release: Path, tokenizer_model: Path, tmp_path: Path
) -> None:
    overrides = {**_overrides(tiny_release), "hidden_size": 6144}
    with pytest.raises(ConversionError, match="hidden_size=6144 contradicts"):
        convert_release(tiny_release, tmp_path / "out", tokenizer_model, overrides, progress=False)
    with pytest.raises(ConversionError, match="unknown fields"):
        convert_release(
            tiny_release, tmp_path / "o2", tokenizer_model, {"hiden": 1}, progress=False
        )


def test_head_dim_must_divide_projection_widths(
    tiny_release: Path, tokenizer_model: Path, tmp_path: Path
) -> None:
    """Without the override, Grok-1's head_dim 128 does not fit the tiny model: a clear error."""
    with pytest.raises(ConversionError, match="set head_dim"):
        convert_release(tiny_release, tmp_path / "out", tokenizer_model, {}, progress=False)
