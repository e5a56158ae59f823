"""The release's int8 weights, kept losslessly in a format vLLM already serves.

The release stores each matrix as int8 plus bf16 scales, either one scale per output column or
eight row blocks. Dequantising to bf16 would double the model (about 630 GB, no 8x80 GB node
holds it), so the converter keeps the int8 values in compressed-tensors' "pack-quantized" W8A16
layout (symmetric, uint8 with offset 128, four per int32 along the input dimension, one bf16
scale per group of input rows). vLLM runs that with its own weight-only int8 kernels on GPUs.
Group scales are exact because every release block (768 and 4096 rows at full size) is a whole
number of groups. A smaller release-format model may have blocks no group size vLLM serves divides
(FFN 344: blocks of 43 rows); those matrices keep int8 with the release's own block scales, their
layers are listed in the config's `ignore` (dense in vLLM), and the plugin expands int8 * scale
into them at load (`plan_storage`, `expand_block_exact_weights`).

Where no int8 kernel exists (vLLM on CPU only runs 4-bit weight-only), the same files are
expanded at load time instead: `dequantize_packed_weights`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model_ext.config import RELEASE_SCALE_ROW_BLOCKS

#: Group sizes vLLM 0.29 serves W8A16 with on GPUs: Marlin (linear and MoE) takes 32, 64, 128
#: (`MARLIN_SUPPORTED_GROUP_SIZES`, besides -1 = per channel); Machete a subset of them. Largest
#: first: fewer scales to read.
GROUP_SIZES = (128, 64, 32)
OFFSET = 128
PACKED_SUFFIX = ".weight_packed"
SCALE_SUFFIX = ".weight_scale"
SHAPE_SUFFIX = ".weight_shape"
#: The block-exact form: int8 [out, in] and the release's scales [out, blocks], for matrices whose
#: scale blocks no group size in GROUP_SIZES divides. Their layers are listed in `ignore`, so vLLM
#: builds them unquantised, and `expand_block_exact_weights` fills them with int8 * scale.
BLOCK_INT8_SUFFIX = ".weight_int8"
BLOCK_SCALE_SUFFIX = ".weight_block_scale"

#: Matrices vLLM quantises together, each with the `ignore` entry that makes its layers dense:
#: q/k/v are fused into one QKVParallelLinear; an expert layer's three projections into one
#: FusedMoE, whose scheme vLLM looks up under the names `experts.0.{gate,up,down}_proj` and
#: requires to agree (compressed_tensors_moe.get_moe_method), so they stay together.
FAMILY_IGNORE = {
    "qkv": r"re:.*\.attn\.[qkv]_proj$",
    "o_proj": r"re:.*\.attn\.o_proj$",
    "experts": r"re:.*\.moe_block\.experts\..*",
}
FAMILY_TITLES = {
    "qkv": "attention q/k/v",
    "o_proj": "attention output",
    "experts": "experts (gate, up, down)",
}


@dataclass(frozen=True)
class StoragePlan:
    """How a model's matrices are stored: W8A16 groups of `group_size`, except the families in
    `block_exact`, which keep int8 with the release's block scales and load dense."""

    group_size: int
    block_exact: frozenset[str]

    def describe(self, rows_per_block: dict[str, list[int]] | None = None) -> dict[str, str]:
        """Family title -> how it is stored, for `grok-ckpt inspect`."""
        out = {}
        for family, title in FAMILY_TITLES.items():
            if family in self.block_exact:
                rows = f" (scale blocks of {rows_per_block[family]} rows)" if rows_per_block else ""
                out[title] = (
                    f"int8 + release block scales{rows}, no group size in {GROUP_SIZES} divides "
                    "them: loaded dense as int8 x scale"
                )
            else:
                out[title] = f"int8 W8A16, group size {self.group_size}"
        return out


def family_rows_per_block(hidden: int, intermediate: int, q_width: int) -> dict[str, list[int]]:
    """Per family, the row counts of its matrices' release scale blocks: q/k/v and the experts'
    gate/up have one block over all `hidden` rows; the attention output and expert down
    projections have RELEASE_SCALE_ROW_BLOCKS blocks."""
    blocks = RELEASE_SCALE_ROW_BLOCKS
    return {
        "qkv": [hidden],
        "o_proj": [q_width // blocks],
        "experts": [hidden, intermediate // blocks],
    }


def plan_storage(rows_per_block: dict[str, list[int]], weights: dict[str, int]) -> StoragePlan:
    """Pick the group size keeping the most weights in W8A16 (ties: the larger group).

    rows_per_block: for each family, the row counts of its matrices' scale blocks; a group size
    serves a family only if it divides all of them (then group scales are exact).
    weights: number of weights per family, to weigh the choice.
    """
    best: StoragePlan | None = None
    best_kept = -1
    for size in GROUP_SIZES:
        fits = {f for f, rows in rows_per_block.items() if all(r % size == 0 for r in rows)}
        kept = sum(weights[f] for f in fits)
        if kept > best_kept:
            best_kept = kept
            best = StoragePlan(size, frozenset(set(rows_per_block) - fits))
    assert best is not None
    return best


def plan_for_shape(
    hidden: int, intermediate: int, q_width: int, kv_width: int, num_experts: int
) -> StoragePlan:
    """The storage plan of a Grok-1 of these sizes, as the converter picks it."""
    rows = family_rows_per_block(hidden, intermediate, q_width)
    weights = {
        "qkv": hidden * (q_width + 2 * kv_width),
        "o_proj": q_width * hidden,
        "experts": 3 * num_experts * hidden * intermediate,
    }
    return plan_storage(rows, weights)


def plan_from_config(quant: dict[str, Any]) -> StoragePlan:
    """The plan a converted directory's `quantization_config` declares."""
    group = int(quant["config_groups"]["group_0"]["weights"]["group_size"])
    ignore = set(quant.get("ignore", []))
    return StoragePlan(group, frozenset(f for f, entry in FAMILY_IGNORE.items() if entry in ignore))


def pack_int8(weight_out_in: np.ndarray) -> np.ndarray:
    """int8 [out, in] -> int32 [out, in/4]: value j of each four sits in byte j (little-endian),
    stored as unsigned with offset 128, as compressed-tensors packs 8-bit weights.

    `weight_out_in` may be a transposed view of a release matrix: torch's strided copy does the
    transpose at about ten times numpy's speed, which made it the converter's largest cost.
    """
    if weight_out_in.dtype != np.int8 or weight_out_in.shape[-1] % 4:
        raise ValueError(f"cannot pack {weight_out_in.dtype}{list(weight_out_in.shape)}")
    out = torch.empty(weight_out_in.shape, dtype=torch.uint8)
    out.copy_(torch.from_numpy(weight_out_in.view(np.uint8)))
    return out.bitwise_xor_(OFFSET).numpy().view("<i4")


def transposed_int8(weight_in_out: np.ndarray) -> np.ndarray:
    """int8 [in, out] -> a new C-order int8 [out, in] (the block-exact form), via torch's copy."""
    out = torch.empty(weight_in_out.shape[::-1], dtype=torch.int8)
    out.copy_(torch.from_numpy(weight_in_out).T)
    return out.numpy()


def group_scales(scales: np.ndarray, in_features: int, group_size: int) -> np.ndarray:
    """Release scales [blocks, out] (blocks = 1 or 8) -> per-group scales [out, in/group].

    Row r of the release matrix uses scale row r // (in_features / blocks); group g covers rows
    g*group .. (g+1)*group - 1, which lie in one block because group divides the block size.
    """
    blocks = scales.shape[0]
    if in_features % blocks or (in_features // blocks) % group_size:
        raise ValueError(
            f"{blocks} scale blocks over {in_features} rows do not split into groups of "
            f"{group_size}"
        )
    groups_per_block = in_features // blocks // group_size
    return np.ascontiguousarray(np.repeat(scales, groups_per_block, axis=0).T)


def _scaled(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 values [out, in] * scales [out, in/k], each scale over k consecutive inputs."""
    rows = values.shape[-1] // scale.shape[-1]
    return values * scale.to(torch.float32).repeat_interleave(rows, dim=-1)


def dequantize_packed(packed: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """int32 [out, in/4] + scales [out, in/group] -> float32 [out, in], exactly int8 * scale."""
    unsigned = packed.contiguous().view(torch.uint8).to(torch.int16)
    return _scaled((unsigned - OFFSET).to(torch.float32), scale)


def dequantize_blocks(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """int8 [out, in] + release block scales [out, blocks] -> float32 [out, in], exactly."""
    return _scaled(weight.to(torch.float32), scale)


def block_scales(scales: np.ndarray) -> np.ndarray:
    """Release scales [blocks, out] -> [out, blocks], the block-exact form's layout."""
    return np.ascontiguousarray(scales.T)


def _expand_pairs(
    weights: Iterable[tuple[str, torch.Tensor]],
    suffixes: tuple[str, str],
    expand: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    drop: tuple[str, ...] = (),
) -> Iterator[tuple[str, torch.Tensor]]:
    """Replace each (values, scales) pair named by `suffixes` with `expand(values, scales)` as
    `.weight`; tensors named with `drop` suffixes are metadata and vanish; others pass through."""
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in weights:
        if name.endswith(drop):
            continue
        suffix = next((s for s in suffixes if name.endswith(s)), None)
        if suffix is None:
            yield name, tensor
            continue
        base = name.removesuffix(suffix)
        parts = pending.setdefault(base, {})
        parts[suffix] = tensor
        if len(parts) == 2:
            del pending[base]
            yield f"{base}.weight", expand(parts[suffixes[0]], parts[suffixes[1]])
    if pending:
        raise ValueError(f"int8 weights and scales that do not pair up: {sorted(pending)}")


def dequantize_packed_weights(
    weights: Iterable[tuple[str, torch.Tensor]],
) -> Iterator[tuple[str, torch.Tensor]]:
    """Stream checkpoint tensors, replacing each (weight_packed, weight_scale) pair by a dense
    float32 `.weight`; `weight_shape` is metadata only. Other tensors pass through untouched."""
    return _expand_pairs(
        weights, (PACKED_SUFFIX, SCALE_SUFFIX), dequantize_packed, drop=(SHAPE_SUFFIX,)
    )


def expand_block_exact_weights(
    weights: Iterable[tuple[str, torch.Tensor]],
) -> Iterator[tuple[str, torch.Tensor]]:
    """Stream checkpoint tensors, replacing each block-exact (weight_int8, weight_block_scale)
    pair by a dense float32 `.weight` (the layer's dtype is applied by its weight loader)."""
    return _expand_pairs(weights, (BLOCK_INT8_SUFFIX, BLOCK_SCALE_SUFFIX), dequantize_blocks)


def compressed_tensors_config(plan: StoragePlan) -> dict[str, Any]:
    """The `quantization_config` for config.json: W8A16, symmetric, group-wise, pack-quantized.

    Only projections are quantised; the router, embedding and norms stay in the release's fp32,
    and the plan's block-exact families are ignored (dense layers).
    """
    return {
        "quant_method": "compressed-tensors",
        "format": "pack-quantized",
        "quantization_status": "compressed",
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": {
                    "num_bits": 8,
                    "type": "int",
                    "symmetric": True,
                    "strategy": "group",
                    "group_size": plan.group_size,
                    "dynamic": False,
                    "actorder": None,
                    "observer": None,
                },
                "input_activations": None,
                "output_activations": None,
            }
        },
        "ignore": ["lm_head", "re:.*moe_block\\.gate$"]
        + [FAMILY_IGNORE[f] for f in FAMILY_IGNORE if f in plan.block_exact],
    }
