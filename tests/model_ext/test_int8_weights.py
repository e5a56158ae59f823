"""The int8 storage format: compressed-tensors' own packing, exact group scales, pairing."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

from model_ext.config import GROK1_DEFAULTS, grok1_intermediate_size
from model_ext.int8_weights import (
    StoragePlan,
    block_scales,
    compressed_tensors_config,
    dequantize_blocks,
    dequantize_packed,
    dequantize_packed_weights,
    expand_block_exact_weights,
    family_rows_per_block,
    group_scales,
    pack_int8,
    plan_from_config,
    plan_storage,
    transposed_int8,
)

_EQUAL_WEIGHTS = {"qkv": 1, "o_proj": 1, "experts": 1}


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
    group = 32
    packed = torch.from_numpy(pack_int8(weight.T))  # a transposed view, as the converter passes
    grouped = group_scales(scales, rows, group)
    scale_t = torch.from_numpy(grouped.view(np.int16)).view(torch.bfloat16)
    assert np.array_equal(dequantize_packed(packed, scale_t).double().numpy(), release.T)


def test_block_exact_form_reproduces_the_release_rule() -> None:
    """43-row blocks (FFN 344 / 8): no group size fits, the block form is exact all the same."""
    rng = np.random.default_rng(2)
    rows, out = 344, 16
    weight = rng.integers(-127, 128, size=(rows, out), dtype=np.int8)
    scales = rng.uniform(0.001, 0.01, size=(8, out)).astype(ml_dtypes.bfloat16)
    release = weight.astype(np.float64) * np.repeat(scales.astype(np.float64), rows // 8, 0)
    values = torch.from_numpy(transposed_int8(weight))
    scale_t = torch.from_numpy(block_scales(scales).view(np.int16)).view(torch.bfloat16)
    assert np.array_equal(dequantize_blocks(values, scale_t).double().numpy(), release.T)


def _rows(hidden: int, intermediate: int, q_width: int) -> dict[str, list[int]]:
    return family_rows_per_block(hidden, intermediate, q_width)


def test_storage_plan_keeps_int8_groups_wherever_a_served_size_fits() -> None:
    d, f = GROK1_DEFAULTS["hidden_size"], GROK1_DEFAULTS["intermediate_size"]
    q = GROK1_DEFAULTS["num_attention_heads"] * GROK1_DEFAULTS["head_dim"]
    assert plan_storage(_rows(d, f, q), _EQUAL_WEIGHTS) == StoragePlan(128, frozenset())
    # The release's size formula at width 256: FFN 344, scale blocks of 43 rows.
    assert grok1_intermediate_size(256, widening_factor=2) == 344
    plan = plan_storage(_rows(256, 344, 12 * 32), _EQUAL_WEIGHTS)
    assert plan == StoragePlan(128, frozenset({"experts", "o_proj"}))
    # Width 192: the experts need group 64; blocks of 32 rows in o_proj would need 32.
    weights = {"qkv": 1, "o_proj": 1, "experts": 10}
    assert plan_storage(_rows(192, 1024, 8 * 32), weights) == StoragePlan(32, frozenset())
    assert plan_storage(_rows(192, 1024, 12 * 32), weights) == StoragePlan(
        64, frozenset({"o_proj"})
    )
    # Ties go to the larger group: fewer scales.
    assert plan_storage(_rows(64, 256, 256), _EQUAL_WEIGHTS).group_size == 32
    assert plan_storage(_rows(128, 1024, 1024), _EQUAL_WEIGHTS).group_size == 128


def test_plan_round_trips_through_the_config() -> None:
    for plan in (StoragePlan(128, frozenset()), StoragePlan(64, frozenset({"experts", "qkv"}))):
        assert plan_from_config(compressed_tensors_config(plan)) == plan


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


def test_block_exact_stream_expands_only_its_own_pairs() -> None:
    stream = [
        ("a.weight_int8", torch.full((2, 16), -4, dtype=torch.int8)),
        ("p.weight_packed", torch.zeros(2, 4, dtype=torch.int32)),
        ("a.weight_block_scale", torch.tensor([[0.5] * 8, [2.0] * 8], dtype=torch.bfloat16)),
    ]
    out = dict(expand_block_exact_weights(stream))
    assert set(out) == {"a.weight", "p.weight_packed"}
    assert torch.equal(out["a.weight"], torch.tensor([[-2.0] * 16, [-8.0] * 16]))


def test_vllm_reads_the_quantization_config_as_w8a16() -> None:
    """vLLM's own compressed-tensors parser maps our projections to 8-bit group weight-only
    quantisation and leaves the fp32 router alone: the GPU path's contract, checked on CPU."""
    from vllm.model_executor.layers.linear import QKVParallelLinear, ReplicatedLinear
    from vllm.model_executor.layers.quantization.compressed_tensors.compressed_tensors import (
        CompressedTensorsConfig,
    )

    config = CompressedTensorsConfig.from_config(
        compressed_tensors_config(StoragePlan(128, frozenset()))
    )
    qkv = QKVParallelLinear.__new__(QKVParallelLinear)
    scheme = config.get_scheme_dict(qkv, "model.layers.0.attn.qkv_proj")
    weights = scheme["weights"]
    assert (weights.num_bits, weights.symmetric, weights.group_size) == (8, True, 128)
    assert scheme["input_activations"] is None
    router = ReplicatedLinear.__new__(ReplicatedLinear)
    assert config.get_scheme_dict(router, "model.layers.0.moe_block.gate") is None


def _vllm_quant_method(plan: StoragePlan, module: str) -> object:
    """The quant method vLLM 0.29's compressed-tensors code gives one of our layers."""
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.model_executor.layers.fused_moe import RoutedExperts
    from vllm.model_executor.layers.fused_moe.activation import MoEActivation
    from vllm.model_executor.layers.fused_moe.config import (
        FusedMoEConfig,
        FusedMoEParallelConfig,
        RoutingMethodType,
    )
    from vllm.model_executor.layers.linear import QKVParallelLinear, RowParallelLinear
    from vllm.model_executor.layers.quantization.compressed_tensors.compressed_tensors import (
        CompressedTensorsConfig,
    )

    from model_ext.model import Grok1ForCausalLM

    config = CompressedTensorsConfig.from_config(compressed_tensors_config(plan))
    config.packed_modules_mapping = Grok1ForCausalLM.packed_modules_mapping
    layer_class = {"qkv_proj": QKVParallelLinear, "o_proj": RowParallelLinear}.get(
        module.rsplit(".", 1)[-1], RoutedExperts
    )
    layer = layer_class.__new__(layer_class)  # get_quant_method reads only its class...
    torch.nn.Module.__init__(layer)
    layer.moe_config = FusedMoEConfig(  # ...and, for experts, the MoE config
        num_experts=8,
        experts_per_token=2,
        hidden_dim=256,
        intermediate_size=344,
        num_local_experts=8,
        num_logical_experts=8,
        activation=MoEActivation.GELU_TANH,
        device="cpu",
        routing_method=RoutingMethodType.Default,
        moe_parallel_config=FusedMoEParallelConfig.make_no_parallel(),
        in_dtype=torch.bfloat16,
    )
    with set_current_vllm_config(VllmConfig()):
        return config.get_quant_method(layer, module)


@pytest.mark.parametrize(
    ("module", "family"),
    [
        ("model.layers.5.moe_block.experts", "experts"),
        ("model.layers.5.attn.o_proj", "o_proj"),
        ("model.layers.5.attn.qkv_proj", "qkv"),
    ],
)
def test_vllm_builds_block_exact_families_unquantised(module: str, family: str) -> None:
    """What `ignore` does in vLLM's own code: an ignored family gets the unquantised method
    (dense weights, which load_weights fills with int8 * scale); the others stay W8A16."""
    from vllm.model_executor.layers.fused_moe import UnquantizedFusedMoEMethod
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod

    dense = _vllm_quant_method(StoragePlan(128, frozenset({family})), module)
    assert isinstance(dense, (UnquantizedFusedMoEMethod, UnquantizedLinearMethod))
    if family != "experts":  # vLLM's int8 MoE methods need a GPU to be built at all
        quantised = _vllm_quant_method(StoragePlan(128, frozenset()), module)
        assert type(quantised).__name__ == "CompressedTensorsLinearMethod"
