"""What a complete Grok-1 model directory must hold, derived from its config.json alone.

Used to verify a conversion and by `grok-ckpt inspect`: a directory is complete when every
tensor the config implies is present in some shard with the right shape and dtype, and nothing
else is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_ext.ckpt import names
from model_ext.int8_weights import (
    BLOCK_INT8_SUFFIX,
    BLOCK_SCALE_SUFFIX,
    StoragePlan,
    plan_from_config,
)
from model_ext.release.layout import SCALE_ROW_BLOCKS


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype (safetensors dtype string) a tensor must have."""

    shape: tuple[int, ...]
    dtype: str


def _projection(
    module: str, out_f: int, in_f: int, plan: StoragePlan | None, family: str, blocks: int
) -> dict[str, TensorSpec]:
    """Tensors of one [out, in] projection: packed int8 + group scales, int8 + the release's
    `blocks` block scales (block-exact), or one dense weight (no plan: an HF directory)."""
    if plan is None:
        return {f"{module}.weight": TensorSpec((out_f, in_f), "*")}
    if family in plan.block_exact:
        return {
            module + BLOCK_INT8_SUFFIX: TensorSpec((out_f, in_f), "I8"),
            module + BLOCK_SCALE_SUFFIX: TensorSpec((out_f, blocks), "BF16"),
        }
    group_size = plan.group_size
    return {
        f"{module}.weight_packed": TensorSpec((out_f, in_f // 4), "I32"),
        f"{module}.weight_scale": TensorSpec((out_f, in_f // group_size), "BF16"),
        f"{module}.weight_shape": TensorSpec((2,), "I64"),
    }


def plan_of(config: dict[str, Any]) -> StoragePlan | None:
    """How a converted directory stores its matrices, or None for a dense (HF) one."""
    quant = config.get("quantization_config")
    return plan_from_config(quant) if quant else None


def expected_tensors(config: dict[str, Any]) -> dict[str, TensorSpec]:
    """Every tensor name -> spec that the model described by `config` needs.

    Dense projections accept any float dtype ("*"): the HF conversions are bf16, tests write f32.
    """
    plan = plan_of(config)
    d = config["hidden_size"]
    f = config["intermediate_size"]
    q = config["num_attention_heads"] * config["head_dim"]
    kv = config["num_key_value_heads"] * config["head_dim"]
    e = config["num_experts"]
    float_dtype = "F32" if plan is not None else "*"
    specs = {
        names.EMBEDDING: TensorSpec((config["vocab_size"], d), float_dtype),
        names.FINAL_NORM: TensorSpec((d,), float_dtype),
    }
    blocks = SCALE_ROW_BLOCKS
    proj_shapes = {
        "q_proj": (q, d, "qkv", 1),
        "k_proj": (kv, d, "qkv", 1),
        "v_proj": (kv, d, "qkv", 1),
        "o_proj": (d, q, "o_proj", blocks),
    }
    expert_shapes = {
        "moe_gate_proj": (f, d, 1),
        "moe_up_proj": (f, d, 1),
        "moe_down_proj": (d, f, blocks),
    }
    for layer in range(config["num_hidden_layers"]):
        prefix = names.layer_prefix(layer)
        for kind, (out_f, in_f, family, n) in proj_shapes.items():
            module = names.attention_module(layer, kind)
            specs.update(_projection(module, out_f, in_f, plan, family, n))
        for kind, (out_f, in_f, n) in expert_shapes.items():
            for expert in range(e):
                module = names.expert_module(layer, kind, expert)
                specs.update(_projection(module, out_f, in_f, plan, "experts", n))
        for norm in names.NORMS.values():
            specs[prefix + norm] = TensorSpec((d,), float_dtype)
        specs[prefix + names.ROUTER] = TensorSpec((e, d), float_dtype)
    return specs


def compare(found: dict[str, TensorSpec], expected: dict[str, TensorSpec]) -> list[str]:
    """Human-readable problems: missing, unexpected, or mis-shaped tensors (empty when complete)."""
    problems = []
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"{len(missing)} tensors missing, e.g. {', '.join(missing[:3])}")
    if extra:
        problems.append(f"{len(extra)} unexpected tensors, e.g. {', '.join(extra[:3])}")
    for name in sorted(set(found) & set(expected)):
        want, got = expected[name], found[name]
        if want.shape != got.shape or want.dtype not in ("*", got.dtype):
            problems.append(
                f"{name}: {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
            )
    return problems
