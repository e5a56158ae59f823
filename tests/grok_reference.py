"""Reference forward pass of Grok-1 in plain PyTorch, straight from the release's tensors.

The tests' oracle: it reads the release-format files itself (no converter, no vLLM), dequantises
with the release's row-block rule, and follows ARCHITECTURE.md line by line, in float64 by
default. Written for clarity, not speed; only tiny models go through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_ext.config import GROK1_DEFAULTS
from model_ext.release.layout import num_layers_from_file_count, param_spec, tensor_file_name
from model_ext.release.pickle_reader import QuantizedWeight, read_release_tensor


def dequantize(obj: QuantizedWeight) -> np.ndarray:
    """int8 [.., rows, out] * scales [.., blocks, out]: row r uses scale row r // (rows/blocks)."""
    rows, blocks = obj.weight.shape[-2], obj.scales.shape[-2]
    scales = np.repeat(obj.scales.astype(np.float64), rows // blocks, axis=-2)
    return obj.weight.astype(np.float64) * scales


class ReleaseParams:
    """All parameters of a release checkpoint, keyed by (layer, kind), dequantised to float64."""

    def __init__(self, ckpt_dir: Path) -> None:
        count = len(list(ckpt_dir.glob("tensor*_000")))
        self.num_layers = num_layers_from_file_count(count)
        self.params: dict[tuple[int | None, str], torch.Tensor] = {}
        for index in range(count):
            spec = param_spec(index, self.num_layers)
            obj = read_release_tensor(ckpt_dir / tensor_file_name(index))
            array = dequantize(obj) if isinstance(obj, QuantizedWeight) else obj
            self.params[(spec.layer, spec.kind)] = torch.from_numpy(np.asarray(array, np.float64))

    def __getitem__(self, key: tuple[int | None, str]) -> torch.Tensor:
        return self.params[key]


def _rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    return scale * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def _rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """NeoX-style RoPE over the whole head dim; x is [T, heads, head_dim], positions 0..T-1."""
    t, _, d = x.shape
    inv_freq = theta ** (-torch.arange(0, d, 2, dtype=x.dtype) / d)
    angles = torch.arange(t, dtype=x.dtype)[:, None] * inv_freq[None, :]
    cos = torch.cat([angles.cos(), angles.cos()], -1)[:, None, :]
    sin = torch.cat([angles.sin(), angles.sin()], -1)[:, None, :]
    rotated = torch.cat([-x[..., d // 2 :], x[..., : d // 2]], -1)
    return x * cos + rotated * sin


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@dataclass(frozen=True)
class Deviation:
    """The mistakes peer ports made (ARCHITECTURE.md); all off means the release's computation.

    Tests switch them on one at a time to show each would move the output past the tolerance
    the plugin is held to, so matching the reference really rules them out.
    """

    erf_gelu: bool = False
    router_cap: float | None = None
    renormalize_gates: bool = False
    bf16_router: bool = False
    rescale_attn_output: bool = False
    cap_before_scale: bool = False


def forward_logits(
    params: ReleaseParams,
    tokens: list[int],
    head_dim: int,
    dtype: torch.dtype = torch.float64,
    deviation: Deviation = Deviation(),
    storage: torch.dtype | None = None,
) -> torch.Tensor:
    """Logits [T, V] for one sequence, exactly as the release computes them (up to dtype).

    `storage` emulates an engine that keeps weights and activations in a narrower dtype (vLLM
    in bf16): the embedding and projection weights, and every tensor a kernel writes out
    (projection outputs, hidden states, logits), are rounded to it, while norms, the router and
    softmax keep `dtype` (vLLM runs those in fp32). Used to size the tolerance of bf16 engines.
    """
    c = GROK1_DEFAULTS
    dev = deviation
    act = (lambda x: torch.nn.functional.gelu(x)) if dev.erf_gelu else _gelu_tanh

    def r(x: torch.Tensor) -> torch.Tensor:
        return x if storage is None else x.to(storage).to(dtype)

    stored = {"embedding", "q_proj", "k_proj", "v_proj", "o_proj"}
    stored |= {"moe_gate_proj", "moe_up_proj", "moe_down_proj"}
    p = {key: value.to(dtype) for key, value in params.params.items()}
    p = {key: r(value) if key[1] in stored else value for key, value in p.items()}
    embed = p[(None, "embedding")]
    h = r(embed[torch.tensor(tokens)] * c["embedding_multiplier_scale"])
    t = len(tokens)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    for layer in range(params.num_layers):
        x = r(_rms_norm(h, p[(layer, "pre_attn_norm")], c["rms_norm_eps"]))
        q = r(x @ p[(layer, "q_proj")]).view(t, -1, head_dim)
        k = r(x @ p[(layer, "k_proj")]).view(t, -1, head_dim)
        v = r(x @ p[(layer, "v_proj")]).view(t, -1, head_dim)
        q, k = r(_rope(q, c["rope_theta"])), r(_rope(k, c["rope_theta"]))
        group = q.shape[1] // k.shape[1]  # query heads g*group.. share KV head g
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        scores = torch.einsum("qhd,khd->hqk", q, k)
        cap = c["max_attn_value"]
        if dev.cap_before_scale:
            scores = cap * torch.tanh(scores / cap) * c["attn_output_multiplier"]
        else:
            scores = cap * torch.tanh(scores * c["attn_output_multiplier"] / cap)
        scores = r(scores.masked_fill(~causal, float("-inf")).softmax(-1))  # FA: P in bf16
        attn = r(torch.einsum("hqk,khd->qhd", scores, v).reshape(t, -1))
        if dev.rescale_attn_output:
            attn = attn * c["attn_output_multiplier"]
        h = r(
            h
            + r(
                _rms_norm(
                    r(attn @ p[(layer, "o_proj")]), p[(layer, "post_attn_norm")], c["rms_norm_eps"]
                )
            )
        )

        x = r(_rms_norm(h, p[(layer, "pre_moe_norm")], c["rms_norm_eps"]))
        if dev.bf16_router:
            router_logits = (x.bfloat16() @ p[(layer, "router")].bfloat16()).to(dtype)
        else:
            router_logits = x @ p[(layer, "router")]
        if dev.router_cap is not None:
            router_logits = dev.router_cap * torch.tanh(router_logits / dev.router_cap)
        probs = router_logits.softmax(-1)
        gates, experts = probs.topk(c["num_experts_per_tok"], dim=-1)  # not renormalised
        if dev.renormalize_gates:
            gates = gates / gates.sum(-1, keepdim=True)
        moe = torch.zeros_like(x)
        for slot in range(experts.shape[1]):
            for e in experts[:, slot].unique().tolist():
                rows = experts[:, slot] == e
                xe = x[rows]
                gate_out = r(xe @ p[(layer, "moe_gate_proj")][e])
                y = r(act(gate_out) * r(xe @ p[(layer, "moe_up_proj")][e]))
                moe[rows] += gates[rows, slot, None] * r(y @ p[(layer, "moe_down_proj")][e])
        moe = r(moe)
        h = r(h + r(_rms_norm(moe, p[(layer, "post_moe_norm")], c["rms_norm_eps"])))
    h = r(_rms_norm(h, p[(None, "final_norm")], c["rms_norm_eps"]))
    return r(h @ embed.T) * c["output_multiplier_scale"]


def prompt_logprobs(
    params: ReleaseParams,
    tokens: list[int],
    head_dim: int,
    deviation: Deviation = Deviation(),
    storage: torch.dtype | None = None,
) -> list[float]:
    """log p(token_i | tokens_<i) for i = 1..T-1, the quantity vLLM reports as prompt logprobs."""
    logits = forward_logits(params, tokens, head_dim, deviation=deviation, storage=storage)
    logp = logits.log_softmax(-1)
    return [float(logp[i - 1, tokens[i]]) for i in range(1, len(tokens))]
