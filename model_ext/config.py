"""Grok-1's Hugging Face config class.

The release ships no config file, and the community conversions disagree on defaults (some say
silu, rope base 1e5, context 4096). This class carries the released model's values as defaults,
under the field names the HF conversions use, so a converted directory needs no
`trust_remote_code` and a bare `{"model_type": "grok-1"}` already means Grok-1.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import PretrainedConfig

logger = logging.getLogger(__name__)

MODEL_TYPE = "grok-1"
ARCHITECTURE = "Grok1ForCausalLM"

# Grok-1's own numbers (run.py / model.py of the release); see ARCHITECTURE.md.
GROK1_DEFAULTS: dict[str, Any] = {
    "vocab_size": 131072,
    "hidden_size": 6144,
    "intermediate_size": 32768,
    "num_hidden_layers": 64,
    "num_attention_heads": 48,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "attn_output_multiplier": 0.08838834764831845,
    "max_attn_value": 30.0,
    "max_position_embeddings": 8192,
    "embedding_multiplier_scale": 78.38367176906169,
    "output_multiplier_scale": 0.5773502691896257,
    "rms_norm_eps": 1e-5,
    "num_experts": 8,
    "num_experts_per_tok": 2,
    "rope_theta": 10000.0,
    "hidden_act": "gelu_tanh",
    "tie_word_embeddings": True,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

# How the release's checkpoint (ckpt-0/, checkpoint.py of the release) stores those weights.
#: Files before the first decoder layer's: the embedding and the final norm.
RELEASE_GLOBAL_FILES = 2
#: Row blocks of the scales of the attention output and expert down projections ([.., 8, out]).
RELEASE_SCALE_ROW_BLOCKS = 8
#: Checkpoint module names of each expert's projections, as the release and the HF conversions
#: name them: the gelu branch, the down projection, the up projection (FusedMoE's order).
EXPERT_CKPT_NAMES = {"gate": "linear", "down": "linear_1", "up": "linear_v"}


_GELU_TANH_NAMES = ("gelu_tanh", "gelu_pytorch_tanh", "gelu_new")


#: The release's widening factor (run.py): expert width = int(factor * D) * 2 // 3, rounded up to
#: a multiple of 8 (model.py's ffn_size).
WIDENING_FACTOR = 8


def grok1_intermediate_size(hidden_size: int, widening_factor: float = WIDENING_FACTOR) -> int:
    """The release's expert width rule: int(factor*D)*2//3, rounded up to a multiple of 8."""
    size = int(widening_factor * hidden_size) * 2 // 3
    return -(-size // 8) * 8


class Grok1Config(PretrainedConfig):
    """Config of `model_type: grok-1`; every default is the released model's value."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = GROK1_DEFAULTS["vocab_size"],
        hidden_size: int = GROK1_DEFAULTS["hidden_size"],
        intermediate_size: int = GROK1_DEFAULTS["intermediate_size"],
        num_hidden_layers: int = GROK1_DEFAULTS["num_hidden_layers"],
        num_attention_heads: int = GROK1_DEFAULTS["num_attention_heads"],
        num_key_value_heads: int = GROK1_DEFAULTS["num_key_value_heads"],
        head_dim: int = GROK1_DEFAULTS["head_dim"],
        attn_output_multiplier: float = GROK1_DEFAULTS["attn_output_multiplier"],
        max_attn_value: float = GROK1_DEFAULTS["max_attn_value"],
        max_position_embeddings: int = GROK1_DEFAULTS["max_position_embeddings"],
        embedding_multiplier_scale: float = GROK1_DEFAULTS["embedding_multiplier_scale"],
        output_multiplier_scale: float = GROK1_DEFAULTS["output_multiplier_scale"],
        rms_norm_eps: float = GROK1_DEFAULTS["rms_norm_eps"],
        num_experts: int = GROK1_DEFAULTS["num_experts"],
        num_experts_per_tok: int = GROK1_DEFAULTS["num_experts_per_tok"],
        rope_theta: float = GROK1_DEFAULTS["rope_theta"],
        hidden_act: str = GROK1_DEFAULTS["hidden_act"],
        tie_word_embeddings: bool = GROK1_DEFAULTS["tie_word_embeddings"],
        pad_token_id: int = GROK1_DEFAULTS["pad_token_id"],
        bos_token_id: int = GROK1_DEFAULTS["bos_token_id"],
        eos_token_id: int = GROK1_DEFAULTS["eos_token_id"],
        **kwargs: Any,
    ) -> None:
        if hidden_act not in _GELU_TANH_NAMES:
            # Several HF conversions wrote silu or erf-gelu here; the weights are still Grok-1's,
            # whose experts were trained with tanh-GELU, so that is what runs.
            logger.warning(
                "config says hidden_act=%r; Grok-1 computes tanh-GELU and so does this model",
                hidden_act,
            )
            hidden_act = "gelu_tanh"
        if not tie_word_embeddings:
            raise ValueError("Grok-1 ties its output projection to the embedding")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.attn_output_multiplier = attn_output_multiplier
        self.max_attn_value = max_attn_value
        self.max_position_embeddings = max_position_embeddings
        self.embedding_multiplier_scale = embedding_multiplier_scale
        self.output_multiplier_scale = output_multiplier_scale
        self.rms_norm_eps = rms_norm_eps
        self.num_experts = num_experts
        self.num_experts_per_tok = num_experts_per_tok
        self.rope_theta = rope_theta
        self.hidden_act = hidden_act
        # vLLM's rotary-embedding factory reads this dict.
        kwargs.setdefault("rope_parameters", {"rope_type": "default", "rope_theta": rope_theta})
        super().__init__(
            tie_word_embeddings=tie_word_embeddings,
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            **kwargs,
        )
