"""Write a model in the HF conversions' layout (hpcai-tech names, dense [out, in] weights).

Those conversions are hundreds of GB and cannot be fetched here, so the tests write the tiny
model in their layout themselves: the release's values, dequantised, under their names, with
a config.json as they ship it (remote-code `auto_map` included, which the plugin must make moot).
Weights are float32 rather than their bf16 so the comparison with the reference stays exact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from model_ext.ckpt import names
from tests.grok_reference import ReleaseParams


def write_hf_layout(params: ReleaseParams, head_dim: int, tokenizer_dir: Path, out: Path) -> Path:
    """Write OUT/config.json, OUT/model.safetensors and the tokenizer files from tokenizer_dir."""
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {
        names.EMBEDDING: params[(None, "embedding")],
        names.FINAL_NORM: params[(None, "final_norm")],
    }
    for layer in range(params.num_layers):
        prefix = names.layer_prefix(layer)
        for kind in names.ATTENTION_MODULES:
            module = names.attention_module(layer, kind)
            tensors[f"{module}.weight"] = params[(layer, kind)].T
        for kind in names.EXPERT_MODULES:
            for expert, matrix in enumerate(params[(layer, kind)]):
                tensors[f"{names.expert_module(layer, kind, expert)}.weight"] = matrix.T
        for kind, suffix in names.NORMS.items():
            tensors[prefix + suffix] = params[(layer, kind)]
        tensors[prefix + names.ROUTER] = params[(layer, "router")].T
    save_file(
        {k: v.to(torch.float32).contiguous() for k, v in tensors.items()},
        str(out / "model.safetensors"),
    )
    embed = params[(None, "embedding")]
    q_proj = params[(0, "q_proj")]
    k_proj = params[(0, "k_proj")]
    gate = params[(0, "moe_gate_proj")]
    config = {
        "architectures": ["Grok1ModelForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_grok1.Grok1Config",
            "AutoModelForCausalLM": "modeling_grok1.Grok1ModelForCausalLM",
        },
        "model_type": "grok-1",
        "vocab_size": embed.shape[0],
        "hidden_size": embed.shape[1],
        "intermediate_size": gate.shape[2],
        "num_hidden_layers": params.num_layers,
        "num_attention_heads": q_proj.shape[1] // head_dim,
        "num_key_value_heads": k_proj.shape[1] // head_dim,
        "head_dim": head_dim,
        "num_experts": gate.shape[0],
        "num_experts_per_tok": 2,
        "attn_output_multiplier": 0.08838834764831845,
        "max_attn_value": 30.0,
        "embedding_multiplier_scale": 78.38367176906169,
        "output_multiplier_scale": 0.5773502691896257,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-05,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.model", "tokenizer_config.json", "tokenizer.json"):
        if (tokenizer_dir / name).exists():
            shutil.copyfile(tokenizer_dir / name, out / name)
    return out
