"""Grok-1 for vLLM, computing what the release computes.

(No `from __future__ import annotations`: vLLM's torch.compile decorator reads the real
annotations of `forward` to find its dynamic dimensions.)

Built from vLLM's own parallel layers, so tensor and pipeline parallelism, quantised kernels and
the KV cache come from vLLM. What is Grok-specific, and where every peer port went wrong
(ARCHITECTURE.md, "Where peer ports deviate"), is spelled out here:
- experts use tanh-GELU (vLLM's `gelu_tanh` MoE activation), not erf-GELU;
- the router runs in fp32 on fp32 weights, softmax over all experts, top-2, no renormalisation
  and no cap on its logits;
- attention scales q.k by `attn_output_multiplier` once, then soft-caps at `max_attn_value`
  (the attention kernel's `scale` and `logits_soft_cap`); the output is not scaled again;
- four sandwich RMSNorms per layer with fp32 scales multiplied in fp32;
- embedding scaled on the way in, tied output projection scaled on the way out.
"""

from collections.abc import Iterable
from itertools import islice

import torch
from torch import nn
from vllm.compilation.decorators import support_torch_compile
from vllm.config import CacheConfig, VllmConfig
from vllm.distributed import get_pp_group, get_tensor_model_parallel_world_size
from vllm.model_executor.layers.attention import Attention
from vllm.model_executor.layers.fused_moe import FusedMoEFactory
from vllm.model_executor.layers.layernorm import RMSNorm
from vllm.model_executor.layers.linear import (
    QKVParallelLinear,
    ReplicatedLinear,
    RowParallelLinear,
)
from vllm.model_executor.layers.logits_processor import LogitsProcessor
from vllm.model_executor.layers.quantization import QuantizationConfig
from vllm.model_executor.layers.rotary_embedding import get_rope
from vllm.model_executor.layers.vocab_parallel_embedding import (
    ParallelLMHead,
    VocabParallelEmbedding,
)
from vllm.model_executor.models.interfaces import SupportsPP
from vllm.model_executor.models.utils import (
    AutoWeightsLoader,
    PPMissingLayer,
    WeightsMapper,
    make_empty_intermediate_tensors_factory,
    make_layers,
    maybe_prefix,
)
from vllm.sequence import IntermediateTensors

from model_ext.config import EXPERT_CKPT_NAMES, Grok1Config
from model_ext.int8_weights import dequantize_packed_weights, expand_block_exact_weights
from model_ext.load_check import CheckpointNames


def _grok_norm(config: Grok1Config) -> RMSNorm:
    """An RMSNorm whose scale stays fp32, so `scale * x_normed` is computed in fp32 as released."""
    return RMSNorm(config.hidden_size, eps=config.rms_norm_eps, dtype=torch.float32)


class Grok1Attention(nn.Module):
    """GQA attention with RoPE (NeoX halves, whole head) and a tanh soft cap after the QK scale."""

    def __init__(
        self,
        config: Grok1Config,
        cache_config: CacheConfig | None,
        quant_config: QuantizationConfig | None,
        prefix: str,
    ) -> None:
        super().__init__()
        tp_size = get_tensor_model_parallel_world_size()
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads // tp_size
        self.num_kv_heads = max(1, config.num_key_value_heads // tp_size)
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        self.qkv_proj = QKVParallelLinear(
            config.hidden_size,
            self.head_dim,
            config.num_attention_heads,
            config.num_key_value_heads,
            bias=False,
            quant_config=quant_config,
            prefix=f"{prefix}.qkv_proj",
        )
        self.o_proj = RowParallelLinear(
            config.num_attention_heads * self.head_dim,
            config.hidden_size,
            bias=False,
            quant_config=quant_config,
            prefix=f"{prefix}.o_proj",
        )
        self.rotary_emb = get_rope(
            self.head_dim,
            max_position=config.max_position_embeddings,
            is_neox_style=True,
            rope_parameters=config.rope_parameters,
        )
        self.attn = Attention(
            self.num_heads,
            self.head_dim,
            scale=config.attn_output_multiplier,
            num_kv_heads=self.num_kv_heads,
            cache_config=cache_config,
            quant_config=quant_config,
            logits_soft_cap=config.max_attn_value,
            prefix=f"{prefix}.attn",
        )

    def forward(self, positions: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
        qkv, _ = self.qkv_proj(hidden_states)
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q, k = self.rotary_emb(positions, q, k)
        output, _ = self.o_proj(self.attn(q, k, v))
        return output


class Grok1MoE(nn.Module):
    """Top-2 of 8 tanh-GELU experts behind an fp32 softmax router; gates not renormalised."""

    def __init__(
        self, config: Grok1Config, quant_config: QuantizationConfig | None, prefix: str
    ) -> None:
        super().__init__()
        self.hidden_size = config.hidden_size
        self.gate = ReplicatedLinear(
            config.hidden_size,
            config.num_experts,
            bias=False,
            params_dtype=torch.float32,
            quant_config=None,
            prefix=f"{prefix}.gate",
        )
        self.experts = FusedMoEFactory(
            num_experts=config.num_experts,
            top_k=config.num_experts_per_tok,
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            renormalize=False,
            quant_config=quant_config,
            activation="gelu_tanh",
            router_logits_dtype=torch.float32,
            ckpt_names=(
                EXPERT_CKPT_NAMES["gate"],
                EXPERT_CKPT_NAMES["down"],
                EXPERT_CKPT_NAMES["up"],
            ),
            prefix=f"{prefix}.experts",
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        router_logits, _ = self.gate(hidden_states.float())
        return self.experts(hidden_states, router_logits)


class Grok1DecoderLayer(nn.Module):
    """h += post_attn_norm(attn(pre_attn_norm(h))); h += post_moe_norm(moe(pre_moe_norm(h)))."""

    def __init__(
        self,
        config: Grok1Config,
        cache_config: CacheConfig | None,
        quant_config: QuantizationConfig | None,
        prefix: str,
    ) -> None:
        super().__init__()
        self.attn = Grok1Attention(config, cache_config, quant_config, f"{prefix}.attn")
        self.moe_block = Grok1MoE(config, quant_config, f"{prefix}.moe_block")
        self.pre_attn_norm = _grok_norm(config)
        self.post_attn_norm = _grok_norm(config)
        self.pre_moe_norm = _grok_norm(config)
        self.post_moe_norm = _grok_norm(config)

    def forward(self, positions: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
        attn_out = self.attn(positions, self.pre_attn_norm(hidden_states))
        hidden_states = hidden_states + self.post_attn_norm(attn_out)
        moe_out = self.moe_block(self.pre_moe_norm(hidden_states))
        return hidden_states + self.post_moe_norm(moe_out)


@support_torch_compile
class Grok1Model(nn.Module):
    """Embedding (scaled), the decoder stack split across pipeline stages, final norm."""

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "") -> None:
        super().__init__()
        config: Grok1Config = vllm_config.model_config.hf_config
        self.config = config
        pp_group = get_pp_group()
        # The output projection is tied to the embedding, so the last stage needs it too.
        if pp_group.is_first_rank or pp_group.is_last_rank:
            self.embed_tokens = VocabParallelEmbedding(
                config.vocab_size, config.hidden_size, prefix=f"{prefix}.embed_tokens"
            )
        else:
            self.embed_tokens = PPMissingLayer()
        self.start_layer, self.end_layer, self.layers = make_layers(
            config.num_hidden_layers,
            lambda prefix: Grok1DecoderLayer(
                config, vllm_config.cache_config, vllm_config.quant_config, prefix
            ),
            prefix=f"{prefix}.layers",
        )
        self.norm = _grok_norm(config) if pp_group.is_last_rank else PPMissingLayer()
        self.make_empty_intermediate_tensors = make_empty_intermediate_tensors_factory(
            ["hidden_states"], config.hidden_size
        )

    def embed_input_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed_tokens(input_ids) * self.config.embedding_multiplier_scale

    def forward(
        self,
        input_ids: torch.Tensor | None,
        positions: torch.Tensor,
        intermediate_tensors: IntermediateTensors | None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor | IntermediateTensors:
        if get_pp_group().is_first_rank:
            hidden_states = (
                inputs_embeds if inputs_embeds is not None else self.embed_input_ids(input_ids)
            )
        else:
            assert intermediate_tensors is not None
            hidden_states = intermediate_tensors["hidden_states"]
        for layer in islice(self.layers, self.start_layer, self.end_layer):
            hidden_states = layer(positions, hidden_states)
        if not get_pp_group().is_last_rank:
            return IntermediateTensors({"hidden_states": hidden_states})
        return self.norm(hidden_states)


class Grok1ForCausalLM(nn.Module, SupportsPP):
    """vLLM entry class for `architectures: ["Grok1ForCausalLM"]` (HF layout and our converted
    int8 layout alike: the same parameter names, with `weight_packed`/`weight_scale` where the
    converter kept the release's int8 weights)."""

    packed_modules_mapping = {"qkv_proj": ["q_proj", "k_proj", "v_proj"]}

    hf_to_vllm_mapper = WeightsMapper(
        orig_to_new_stacked={
            ".q_proj": (".qkv_proj", "q"),
            ".k_proj": (".qkv_proj", "k"),
            ".v_proj": (".qkv_proj", "v"),
        },
        # The HF conversions name norm weights `scale`, as the release does.
        orig_to_new_suffix={".scale": ".weight"},
    )

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "") -> None:
        super().__init__()
        config: Grok1Config = vllm_config.model_config.hf_config
        self.config = config
        self.quant_config = vllm_config.quant_config
        self.model = Grok1Model(vllm_config=vllm_config, prefix=maybe_prefix(prefix, "model"))
        if get_pp_group().is_last_rank:
            self.lm_head = ParallelLMHead(
                config.vocab_size, config.hidden_size, prefix=maybe_prefix(prefix, "lm_head")
            ).tie_weights(self.model.embed_tokens)
            self.logits_processor = LogitsProcessor(
                config.vocab_size, scale=config.output_multiplier_scale
            )
        else:
            self.lm_head = PPMissingLayer()
        self.make_empty_intermediate_tensors = self.model.make_empty_intermediate_tensors

    def embed_input_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_input_ids(input_ids)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        positions: torch.Tensor,
        intermediate_tensors: IntermediateTensors | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor | IntermediateTensors:
        return self.model(input_ids, positions, intermediate_tensors, inputs_embeds)

    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        return self.logits_processor(self.lm_head, hidden_states)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        # vLLM checks completeness only for unquantised models, and not per expert: check the
        # checkpoint's names here, on every platform (model_ext.load_check).
        pp = get_pp_group()
        names = CheckpointNames(
            self.config.to_dict(),
            range(self.model.start_layer, self.model.end_layer),
            embedding=pp.is_first_rank or pp.is_last_rank,
            final_norm=pp.is_last_rank,
        )
        # Matrices no supported int8 group size fits are stored int8 with the release's block
        # scales and listed in the quantisation config's `ignore`, so their layers are dense:
        # expand int8 * scale into them (see model_ext.int8_weights).
        weights = expand_block_exact_weights(names.filter(weights))
        if self.quant_config is None:
            # No int8 kernel on this platform (see model_ext.int8_weights): expand the release's
            # int8 weights to the model dtype as they stream in.
            weights = dequantize_packed_weights(weights)
        loader = AutoWeightsLoader(self)
        try:
            loaded = loader.load_weights(weights, mapper=self.hf_to_vllm_mapper)
        except ValueError:
            if names.exhausted:  # every name was seen: say what is missing, if that is why
                names.check()
            raise
        names.check()
        return loaded


class Grok1ModelForCausalLM(Grok1ForCausalLM):
    """Alias: the architecture name some HF conversions wrote into config.json."""
