"""A random tiny Grok-1, written in the release's exact `ckpt-0/` format.

No real weights can be had where tests and CI run, so the tests make their own checkpoint: the
same pickles, int8 matrices with bf16 scales (8-block scales on the attention output and expert
down projections), fp32 embedding/norms/router, and at least 11 layers so that the release's
lexicographic file order differs from numeric order. Its vocabulary is Grok-1's, so the real
tokenizer works with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

from model_ext.config import GROK1_DEFAULTS
from model_ext.release.layout import (
    SCALE_ROW_BLOCKS,
    ReleaseDims,
    expected_shapes,
    num_release_files,
    param_spec,
    tensor_file_name,
)
from model_ext.release.pickle_reader import QuantizedWeight
from model_ext.release.pickle_writer import write_release_tensor


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny model: Grok-1's shape ratios (GQA 6:1, top-2 of 8), small widths.

    head_dim * heads != hidden on purpose: head_dim is its own number in Grok-1 too.
    """

    num_layers: int = 12
    vocab: int = GROK1_DEFAULTS["vocab_size"]
    hidden: int = 128
    intermediate: int = 256
    num_experts: int = GROK1_DEFAULTS["num_experts"]
    num_heads: int = 12
    num_kv_heads: int = 2
    head_dim: int = 32
    # Overrides of the weight gains below (None: those defaults); MILD_GAINS for tests about
    # anything but the peers' mistakes.
    qk_gain: float | None = None
    router_gain: float | None = None
    final_norm_gain: float | None = None

    def dims(self) -> ReleaseDims:
        return ReleaseDims(
            vocab=self.vocab,
            hidden=self.hidden,
            intermediate=self.intermediate,
            num_experts=self.num_experts,
            num_heads=self.num_heads,
            num_kv_heads=self.num_kv_heads,
            head_dim=self.head_dim,
        )


# Scales of the random weights. Plain unit-variance weights give a model in which the peers'
# mistakes would go unnoticed: attention scores far below the soft cap, router logits far below
# a cap of 30, branch outputs so large that the sandwich norms hide any rescaling of them, and
# near-uniform predictions. These gains put each of those in the regime where a mistake moves
# the log-probs by far more than the tests' tolerance (tests/model_ext/test_reference.py).
_GAINS = {"q_proj": 3.0, "k_proj": 3.0, "o_proj": 0.002, "moe_down_proj": 0.002}
EMBEDDING_STD = 1 / 78.0  # times the embedding multiplier: unit-scale hidden states
ROUTER_GAIN = 30.0
FINAL_NORM_GAIN = 30.0  # the tied output projection then gives peaked predictions
#: Milder gains (TinySpec fields), for tests of storage layouts and bf16 engines. The defaults
#: make the model amplify any difference: over its 12 layers, fp32 round-off alone moves
#: log-probs by up to ~1.5e-3 (near the fp32 engines' tolerance of 2e-3), bf16 rounding by
#: several nats (routing flips, saturated attention). With these, fp32 round-off moves them by
#: ~5e-6 (measured on the FFN-344 variant of tests/model_ext/test_release_shapes.py).
MILD_GAINS = {"qk_gain": 1.0, "router_gain": 4.0, "final_norm_gain": 8.0}


def _random_quantized(
    rng: np.random.Generator,
    weight_shape: tuple[int, ...],
    scales_shape: tuple[int, ...],
    gain: float,
) -> QuantizedWeight:
    """int8 values over the full range, scales sized for roughly `gain`-sized outputs."""
    fan_in = weight_shape[-2]
    weight = rng.integers(-127, 128, size=weight_shape, dtype=np.int8)
    base = gain / (73.0 * np.sqrt(fan_in))  # 73 ~ std of uniform int8
    scales = base * rng.uniform(0.5, 1.5, size=scales_shape)
    return QuantizedWeight(weight=weight, scales=scales.astype(ml_dtypes.bfloat16))


OVERRIDES_FILE = "tiny-config.json"


def make_tiny(out: Path, spec: TinySpec | None = None, seed: int = 0) -> Path:
    """Write OUT/ckpt-0/tensorNNNNN_000 for a random model of `spec`; returns the ckpt-0 dir.

    Beside it goes OUT/tiny-config.json, the `--config` overrides its conversion needs: shapes
    come from the tensors, but head_dim cannot (Grok-1 does not tie it to hidden/heads).
    """
    spec = spec or TinySpec()
    if spec.num_layers < 11:
        raise ValueError("a tiny model needs at least 11 layers to exercise the file order")
    dims = spec.dims()
    rng = np.random.default_rng(seed)
    ckpt = out / "ckpt-0"
    ckpt.mkdir(parents=True, exist_ok=True)
    for index in range(num_release_files(spec.num_layers)):
        kind = param_spec(index, spec.num_layers).kind
        weight_shape, scales_shape = expected_shapes(kind, dims)
        obj: np.ndarray | QuantizedWeight
        if scales_shape is not None:
            gain = _GAINS.get(kind, 1.0)
            if spec.qk_gain is not None and kind in ("q_proj", "k_proj"):
                gain = spec.qk_gain
            obj = _random_quantized(rng, weight_shape, scales_shape, gain)
            if scales_shape[-2] == SCALE_ROW_BLOCKS:
                # Make the 8 row blocks clearly different, so a loader that gets them wrong fails.
                blocks = np.linspace(0.5, 2.0, SCALE_ROW_BLOCKS)[:, None]
                obj.scales = (obj.scales.astype(np.float32) * blocks).astype(ml_dtypes.bfloat16)
        elif kind == "embedding":
            obj = rng.normal(0.0, EMBEDDING_STD, size=weight_shape).astype(np.float32)
        elif kind == "router":
            router_gain = ROUTER_GAIN if spec.router_gain is None else spec.router_gain
            obj = rng.normal(0.0, router_gain / np.sqrt(spec.hidden), size=weight_shape)
            obj = obj.astype(np.float32)
        else:  # RMSNorm scales, multiplied directly (no 1 + scale)
            final_gain = FINAL_NORM_GAIN if spec.final_norm_gain is None else spec.final_norm_gain
            gain = final_gain if kind == "final_norm" else 1.0
            obj = (gain * rng.uniform(0.5, 1.5, size=weight_shape)).astype(np.float32)
        write_release_tensor(ckpt / tensor_file_name(index), obj)
    (out / OVERRIDES_FILE).write_text(json.dumps({"head_dim": spec.head_dim}) + "\n")
    return ckpt
