"""Parameter names of the converted model: the HF conversions' names (hpcai-tech layout).

One naming for both sources means one `load_weights` serves HF bf16 directories and ours; ours
only adds compressed-tensors' `weight_packed` / `weight_scale` / `weight_shape` suffixes where the
release's int8 matrices are kept.
"""

from __future__ import annotations

from model_ext.config import EXPERT_CKPT_NAMES

EMBEDDING = "model.embed_tokens.weight"
FINAL_NORM = "model.norm.scale"

# Release kinds (model_ext.release.layout) -> module path under `model.layers.N.`.
ATTENTION_MODULES = {
    "q_proj": "attn.q_proj",
    "k_proj": "attn.k_proj",
    "v_proj": "attn.v_proj",
    "o_proj": "attn.o_proj",
}
EXPERT_MODULES = {
    "moe_gate_proj": EXPERT_CKPT_NAMES["gate"],
    "moe_up_proj": EXPERT_CKPT_NAMES["up"],
    "moe_down_proj": EXPERT_CKPT_NAMES["down"],
}
NORMS = {
    "pre_attn_norm": "pre_attn_norm.scale",
    "post_attn_norm": "post_attn_norm.scale",
    "pre_moe_norm": "pre_moe_norm.scale",
    "post_moe_norm": "post_moe_norm.scale",
}
ROUTER = "moe_block.gate.weight"


def layer_prefix(layer: int) -> str:
    """`model.layers.N.`"""
    return f"model.layers.{layer}."


def expert_module(layer: int, kind: str, expert: int) -> str:
    """Module path of one expert's projection, e.g. `model.layers.3.moe_block.experts.5.linear`."""
    return f"{layer_prefix(layer)}moe_block.experts.{expert}.{EXPERT_MODULES[kind]}"


def attention_module(layer: int, kind: str) -> str:
    """Module path of an attention projection, e.g. `model.layers.3.attn.q_proj`."""
    return f"{layer_prefix(layer)}{ATTENTION_MODULES[kind]}"
