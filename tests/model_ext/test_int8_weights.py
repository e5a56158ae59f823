"""The int8 storage format: compressed-tensors' own packing, exact group scales, pairing."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

from model_ext.int8_weights import (
    choose_group_size,
    compressed_tensors_config,
    dequantize_packed,
    dequantize_packed_weights,
    group_scales,
    pack_int8,
)


def test_packing_is_compressed_tensors_own() -> None:
    rng = np.random.default_rng(0)
    weight = rng.integers(-128, 128, size=(48, 64), dtype=np.int8)
    ours = torch.from_numpy(pack_int8(weight))
    theirs = pack_to_int32(torch.from_numpy(weight), num_bits=8)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("blocks", [1, 8])
def test_group_scales_reproduce_the_release_rule(blocks: int) -> None:
    """Row r of a [rows, out] release matrix uses scale row r // (rows / blocks); exactly."""
    rng = np.random.default_rng(1)
    rows, out = 256, 24
    weight = rng.integers(-127, 128, size=(rows, out), dtype=np.int8)
    scales = rng.uniform(0.001, 0.01, size=(blocks, out)).astype(ml_dtypes.bfloat16)
    release = weight.astype(np.float64) * np.repeat(scales.astype(np.float64), rows // blocks, 0)
    group = choose_group_size([rows // blocks])
    packed = torch.from_numpy(pack_int8(np.ascontiguousarray(weight.T)))
    grouped = group_scales(scales, rows, group)
    scale_t = torch.from_numpy(grouped.view(np.int16)).view(torch.bfloat16)
    assert np.array_equal(dequantize_packed(packed, scale_t).double().numpy(), release.T)


def test_group_size_divides_every_block() -> None:
    assert choose_group_size([6144, 32768 // 8, 6144 // 8]) == 128  # Grok-1 itself
    assert choose_group_size([128, 256 // 8, 384 // 8]) == 16  # the tiny test model
    with pytest.raises(ValueError, match="share no group size"):
        choose_group_size([128, 86])


def test_dequantize_stream_pairs_weights_and_scales() -> None:
    packed = torch.from_numpy(pack_int8(np.full((4, 8), -3, np.int8)))
    scale = torch.full((4, 2), 0.5, dtype=torch.bfloat16)
    stream = [
        ("a.weight_packed", packed),
        ("norm.scale", torch.ones(3)),
        ("a.weight_shape", torch.tensor([4, 8])),
        ("a.weight_scale", scale),
    ]
    out = dict(dequantize_packed_weights(stream))
    assert set(out) == {"norm.scale", "a.weight"}
    assert torch.equal(out["a.weight"], torch.full((4, 8), -1.5))
    with pytest.raises(ValueError, match="do not pair up"):
        list(dequantize_packed_weights([("b.weight_packed", packed)]))


def test_vllm_reads_the_quantization_config_as_w8a16() -> None:
    """vLLM's own compressed-tensors parser maps our projections to 8-bit group weight-only
    quantisation and leaves the fp32 router alone: the GPU path's contract, checked on CPU."""
    from vllm.model_executor.layers.linear import QKVParallelLinear, ReplicatedLinear
    from vllm.model_executor.layers.quantization.compressed_tensors.compressed_tensors import (
        CompressedTensorsConfig,
    )

    config = CompressedTensorsConfig.from_config(compressed_tensors_config(128))
    qkv = QKVParallelLinear.__new__(QKVParallelLinear)
    scheme = config.get_scheme_dict(qkv, "model.layers.0.attn.qkv_proj")
    weights = scheme["weights"]
    assert (weights.num_bits, weights.symmetric, weights.group_size) == (8, True, 128)
    assert scheme["input_activations"] is None
    router = ReplicatedLinear.__new__(ReplicatedLinear)
    assert config.get_scheme_dict(router, "model.layers.0.moe_block.gate") is None
