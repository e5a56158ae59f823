"""What benchmarks/gpu_layer.py computes without a GPU: its floor, its projection, its model.

The timing itself needs CUDA (`make bench-gpu`); these check the arithmetic it is judged by,
and that the model it builds is one vLLM and the plugin accept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_layer import (
    LayerShape,
    active_experts,
    decode_step_bytes,
    model_config,
    replica_tokens_per_s,
)
from tests.conftest import REPO


def test_floor_of_a_grok1_layer_at_batch_1() -> None:
    shape = LayerShape()
    assert shape.group == 128  # what the converter picks for the release's blocks
    parts = decode_step_bytes(shape, batch=1, context=544)
    # Per expert: gate and up [6144, 32768] and down [32768, 6144] in int8, plus bf16 scales per
    # 128 input rows: 3 x 201,326,592 + 2 x 48 x 32768 x 2 + 256 x 6144 x 2 bytes; 2 experts.
    assert parts["experts"] == 2 * (3 * 201_326_592 + 2 * 3_145_728 + 3_145_728)
    # qkv [6144, 8192] and o [6144, 6144] in int8, plus scales.
    assert parts["attention"] == 6144 * 8192 + 48 * 8192 * 2 + 6144 * 6144 + 48 * 6144 * 2
    # 544 cached tokens x K and V x 8 heads x 128 x bf16.
    assert parts["kv_cache"] == 544 * 2 * 8 * 128 * 2
    # ARCHITECTURE.md: 256 KiB of KV cache per token over 64 layers.
    assert decode_step_bytes(shape, 1, 1)["kv_cache"] * 64 == 256 * 1024


def test_active_experts_grow_from_top_k_to_all() -> None:
    assert active_experts(1, 8, 2) == pytest.approx(2.0)
    assert active_experts(8, 8, 2) == pytest.approx(8 * (1 - 0.75**8))
    assert 7.99 < active_experts(64, 8, 2) <= 8
    assert (
        decode_step_bytes(LayerShape(), 64, 544)["experts"]
        > 3.9 * (decode_step_bytes(LayerShape(), 1, 544)["experts"])
    )


def test_projection_to_a_tp8_replica() -> None:
    # 64 x (400 us / 8 + 2 x 15 us) + LM head 131072 x 6144 x 2 B / 8 / 3 TB/s = 5.187 ms
    assert replica_tokens_per_s(1, 400e-6, LayerShape(), 3e12) == pytest.approx(192.8, rel=1e-3)
    assert replica_tokens_per_s(64, 400e-6, LayerShape(), 3e12) == pytest.approx(
        64 * 192.8, rel=1e-3
    )


def test_benchmark_model_is_accepted_by_vllm(tmp_path: Path) -> None:
    from transformers import AutoConfig
    from vllm.config import ModelConfig

    import model_ext

    model_ext.register()
    (tmp_path / "config.json").write_text(json.dumps(model_config(1, LayerShape())))
    config = AutoConfig.from_pretrained(tmp_path)
    assert (config.hidden_size, config.num_hidden_layers, config.head_dim) == (6144, 1, 128)
    weights = config.quantization_config["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["group_size"]) == (8, 128)
    vllm_config = ModelConfig(model=str(tmp_path), dtype="bfloat16", skip_tokenizer_init=True)
    assert vllm_config.architecture == "Grok1ForCausalLM"


def test_without_cuda_the_benchmark_says_so() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: `make bench-gpu` runs the benchmark itself")
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_layer.py"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("bench-gpu needs a CUDA GPU")
    assert "Traceback" not in proc.stderr
