"""The release's int8 weights, kept losslessly in a format vLLM already serves.

The release stores each matrix as int8 plus bf16 scales, either one scale per output column or
eight row blocks. Dequantising to bf16 would double the model (about 630 GB, no 8x80 GB node
holds it), so the converter keeps the int8 values in compressed-tensors' "pack-quantized" W8A16
layout (symmetric, uint8 with offset 128, four per int32 along the input dimension, one bf16
scale per group of input rows). vLLM runs that with its own weight-only int8 kernels on GPUs.
Group scales are exact because every release block (768 and 4096 rows at full size) is a whole
number of groups; the group size is chosen so that this holds for any shape.

Where no int8 kernel exists (vLLM on CPU only runs 4-bit weight-only), the same files are
expanded at load time instead: `dequantize_packed_weights`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

GROUP_SIZES = (128, 64, 32, 16, 8, 4)
OFFSET = 128
PACKED_SUFFIX = ".weight_packed"
SCALE_SUFFIX = ".weight_scale"
SHAPE_SUFFIX = ".weight_shape"


def choose_group_size(rows_per_block: Iterable[int]) -> int:
    """The largest supported group size dividing every scale block, so group scales are exact."""
    blocks = list(rows_per_block)
    for size in GROUP_SIZES:
        if all(rows % size == 0 for rows in blocks):
            return size
    raise ValueError(
        f"scale blocks of {blocks} rows share no group size in {GROUP_SIZES}; "
        "such a model cannot be stored as group-quantised int8"
    )


def pack_int8(weight_out_in: np.ndarray) -> np.ndarray:
    """int8 [out, in] -> int32 [out, in/4]: value j of each four sits in byte j (little-endian),
    stored as unsigned with offset 128, as compressed-tensors packs 8-bit weights."""
    if weight_out_in.dtype != np.int8 or weight_out_in.shape[-1] % 4:
        raise ValueError(f"cannot pack {weight_out_in.dtype}{list(weight_out_in.shape)}")
    unsigned = (weight_out_in.view(np.uint8) ^ np.uint8(OFFSET)).astype(np.uint8, copy=False)
    return np.ascontiguousarray(unsigned).view("<i4")


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


def dequantize_packed(packed: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """int32 [out, in/4] + scales [out, in/group] -> float32 [out, in], exactly int8 * scale."""
    unsigned = packed.contiguous().view(torch.uint8).to(torch.int16)
    values = (unsigned - OFFSET).to(torch.float32)
    group_size = values.shape[-1] // scale.shape[-1]
    return values * scale.to(torch.float32).repeat_interleave(group_size, dim=-1)


def dequantize_packed_weights(
    weights: Iterable[tuple[str, torch.Tensor]],
) -> Iterator[tuple[str, torch.Tensor]]:
    """Stream checkpoint tensors, replacing each (weight_packed, weight_scale) pair by a dense
    float32 `.weight`; `weight_shape` is metadata only. Other tensors pass through untouched."""
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in weights:
        if name.endswith(SHAPE_SUFFIX):
            continue
        suffix = next((s for s in (PACKED_SUFFIX, SCALE_SUFFIX) if name.endswith(s)), None)
        if suffix is None:
            yield name, tensor
            continue
        base = name.removesuffix(suffix)
        parts = pending.setdefault(base, {})
        parts[suffix] = tensor
        if len(parts) == 2:
            del pending[base]
            yield f"{base}.weight", dequantize_packed(parts[PACKED_SUFFIX], parts[SCALE_SUFFIX])
    if pending:
        raise ValueError(f"int8 weights and scales that do not pair up: {sorted(pending)}")


def compressed_tensors_config(group_size: int) -> dict[str, Any]:
    """The `quantization_config` for config.json: W8A16, symmetric, group-wise, pack-quantized.

    Only projections are quantised; the router, embedding and norms stay in the release's fp32.
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
                    "group_size": group_size,
                    "dynamic": False,
                    "actorder": None,
                    "observer": None,
                },
                "input_activations": None,
                "output_activations": None,
            }
        },
        "ignore": ["lm_head", "re:.*moe_block\\.gate$"],
    }
