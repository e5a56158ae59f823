"""One full-width Grok-1 decoder layer on a CUDA GPU: decode-step time against its memory floor.

Run: `make bench-gpu` (on the offline GPU host: see the Makefile's note).

A decode step of Grok-1 is bound by reading memory: the active experts' int8 weights, the
attention weights and the KV cache. So the floor of a layer's step is those bytes divided by the
HBM bandwidth, which this script measures first (the faster of a large copy and a large read).
The layer is the plugin's own (model_ext.model, vLLM's layers and kernels, W8A16 group 128
exactly as `grok-ckpt convert` writes it, random weights via vLLM's dummy loader); a vLLM engine
runs it with CUDA graphs. Engines with 2 and with 10 decoder layers are timed, and the
difference /8 is one layer's step: embedding, LM head, sampling and scheduling cancel out,
provided that both engines' steps are bound by the GPU. The first pair, 1 and 3 layers, gave
411, 369 and -70 us per layer at batch 1 in three H100 runs (2026-11-24): steps of 1-2 ms of GPU
work, where the host's scheduling and sampling set the pace. 10 layers (about 50 GB of int8
experts) put about 4 ms of GPU work in each step at batch 1; this pair has not yet run on a GPU.

Printed per batch size: the layer's step time, its floor, the fraction of the floor achieved
(target: at least 60% at batch 1), and a projection to the real model: 64 layers at TP=8.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import model_ext
from model_ext.config import ARCHITECTURE, GROK1_DEFAULTS, MODEL_TYPE
from model_ext.int8_weights import StoragePlan, compressed_tensors_config, plan_for_shape

# On import, so also in vLLM's engine core and workers: they are spawned and re-import the main
# module. Needed where the project is on PYTHONPATH but not installed (no plugin entry point).
model_ext.register()

LAYER_COUNTS = (2, 10)
TP = 8  # the production replica
NUM_LAYERS = GROK1_DEFAULTS["num_hidden_layers"]
# Assumed time of one all-reduce of a decode step's hidden states (batch x 6144 bf16, at most
# 768 KiB) over 8 NVLink-connected H100s, with vLLM's custom all-reduce. Not measured here (one
# GPU); two per layer (after attention and after the MoE block).
ALLREDUCE_S = 15e-6
BF16 = 2
FP32 = 4


@dataclass(frozen=True)
class LayerShape:
    """A Grok-1 decoder layer's sizes (defaults: the released model) and its int8 group size."""

    hidden: int = GROK1_DEFAULTS["hidden_size"]
    heads: int = GROK1_DEFAULTS["num_attention_heads"]
    kv_heads: int = GROK1_DEFAULTS["num_key_value_heads"]
    head_dim: int = GROK1_DEFAULTS["head_dim"]
    experts: int = GROK1_DEFAULTS["num_experts"]
    top_k: int = GROK1_DEFAULTS["num_experts_per_tok"]
    ffn: int = GROK1_DEFAULTS["intermediate_size"]
    vocab: int = GROK1_DEFAULTS["vocab_size"]

    @property
    def plan(self) -> StoragePlan:
        """How the converter stores this shape; the benchmark measures all-W8A16 layers only."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        plan = plan_for_shape(self.hidden, self.ffn, q, kv, self.experts)
        if plan.block_exact:
            raise ValueError(f"{self}: {sorted(plan.block_exact)} would not be W8A16")
        return plan

    @property
    def group(self) -> int:
        """The group size the converter picks: it divides every release scale block."""
        return self.plan.group_size


def int8_matrix_bytes(rows_in: int, cols_out: int, group: int) -> int:
    """An [in, out] int8 matrix plus its bf16 group scales (one per `group` input rows)."""
    return rows_in * cols_out + (rows_in // group) * cols_out * BF16


def active_experts(batch: int, experts: int, top_k: int) -> float:
    """Expected number of distinct experts a decode step touches: each token picks top_k of
    `experts`, independently and uniformly (random weights route that way)."""
    return experts * (1 - (1 - top_k / experts) ** batch)


def decode_step_bytes(shape: LayerShape, batch: int, context: float) -> dict[str, float]:
    """Bytes one decode step of one layer must read from memory, by part (TP=1)."""
    q = shape.heads * shape.head_dim
    kv = shape.kv_heads * shape.head_dim
    g = shape.group
    expert = 2 * int8_matrix_bytes(shape.hidden, shape.ffn, g)  # gate and up
    expert += int8_matrix_bytes(shape.ffn, shape.hidden, g)  # down
    attention = int8_matrix_bytes(shape.hidden, q + 2 * kv, g) + int8_matrix_bytes(
        q, shape.hidden, g
    )
    return {
        "experts": active_experts(batch, shape.experts, shape.top_k) * expert,
        "attention": float(attention),
        "kv_cache": batch * context * 2 * kv * BF16,
        "router_norms": float(shape.hidden * shape.experts * FP32 + 4 * shape.hidden * FP32),
    }


def replica_tokens_per_s(batch: int, layer_s: float, shape: LayerShape, hbm: float) -> float:
    """Decode throughput of one TP=8 replica of the 64-layer model, from one layer's TP=1 step.

    Each GPU holds 1/8 of every matrix and of the KV heads, so a layer's memory-bound step
    takes 1/8 of the TP=1 time, plus two all-reduces (ALLREDUCE_S each); the LM head (tied
    bf16 embedding, split 8 ways) is read once per step.
    """
    head_s = shape.vocab * shape.hidden * BF16 / TP / hbm
    step = NUM_LAYERS * (layer_s / TP + 2 * ALLREDUCE_S) + head_s
    return batch / step


def model_config(num_layers: int, shape: LayerShape) -> dict[str, Any]:
    """config.json of a Grok-1 with `num_layers` full-width layers, int8 as converted."""
    config = {**GROK1_DEFAULTS, "num_hidden_layers": num_layers}
    config.update(
        architectures=[ARCHITECTURE],
        model_type=MODEL_TYPE,
        torch_dtype="bfloat16",
        tie_word_embeddings=True,
        quantization_config=compressed_tensors_config(shape.plan),
    )
    return config


def cuda_unavailable_reason() -> str | None:
    """Why this cannot run here, or None."""
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA GPU visible to torch {torch.__version__}"
    from vllm.platforms import current_platform

    if not current_platform.is_cuda():
        return f"vLLM here is not a CUDA build (platform {type(current_platform).__name__})"
    return None


def hbm_bandwidth(gib: int = 4, repeats: int = 20) -> dict[str, float]:
    """Bytes/s this GPU streams through HBM, measured two ways on one `gib` GiB buffer.

    "copy": a device-to-device copy (each byte read once and written once); "read": a sum over
    the buffer (read only, as a decode step mostly is). Reading alone can stream faster than
    copying, so the floor takes the faster of the two: with the copy rate alone, the first H100
    run put the batch-1 layer at 106% of its "floor".
    """
    import torch

    nbytes = gib << 30
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    words = src.view(torch.float32)

    def rate(step: Callable[[], object], moved: int) -> float:
        step()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        torch.cuda.synchronize()
        return moved * repeats / (time.perf_counter() - start)

    return {
        "copy": rate(lambda: dst.copy_(src), 2 * nbytes),
        "read": rate(lambda: words.sum(), nbytes),
    }


def time_engine(model_dir: Path, batches: list[int], context: int, steps: int) -> dict[int, float]:
    """Seconds per decode step of a vLLM engine on `model_dir`, per batch size (CUDA graphs)."""
    from vllm import LLM, SamplingParams

    llm = LLM(
        model=str(model_dir),
        load_format="dummy",
        skip_tokenizer_init=True,
        dtype="bfloat16",
        max_model_len=context + 2 * steps + 16,
        max_num_seqs=max(batches),
        enable_prefix_caching=False,
        gpu_memory_utilization=0.8,  # 10 layers: ~51 GB of weights
        seed=0,
    )

    def run(batch: int, new_tokens: int) -> float:
        prompts = [
            {"prompt_token_ids": [(7 * i + j) % 100000 + 3 for j in range(context)]}
            for i in range(batch)
        ]
        params = SamplingParams(max_tokens=new_tokens, ignore_eos=True, temperature=0.0)
        start = time.perf_counter()
        llm.generate(prompts, params, use_tqdm=False)
        return time.perf_counter() - start

    result = {}
    for batch in batches:
        run(batch, steps + 1)  # warm-up
        # Both runs share the prefill and the first `steps` decode steps; the difference is
        # `steps` decode steps with every sequence decoding (no prefill chunk beside them).
        short = min(run(batch, steps + 1) for _ in range(3))
        long = min(run(batch, 2 * steps + 1) for _ in range(3))
        result[batch] = (long - short) / steps
    return result


def engine_main(args: argparse.Namespace) -> None:
    """Child mode: one engine, one layer count; writes {batch: seconds per step} as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        config = model_config(args.engine_layers, LayerShape())
        (model_dir / "config.json").write_text(json.dumps(config))
        times = time_engine(model_dir, args.batches, args.context, args.steps)
    Path(args.out).write_text(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8, 64]
    )
    parser.add_argument("--context", type=int, default=512, help="prompt tokens per sequence")
    parser.add_argument("--steps", type=int, default=64, help="decode steps timed")
    parser.add_argument("--engine-layers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    reason = cuda_unavailable_reason()
    if reason is not None:
        print(f"bench-gpu needs a CUDA GPU and vLLM's CUDA build: {reason}", file=sys.stderr)
        sys.exit(2)
    if args.engine_layers is not None:
        engine_main(args)
        return

    import torch

    shape = LayerShape()
    rates = hbm_bandwidth()
    torch.cuda.empty_cache()  # the buffers are gone: leave the engines the whole GPU
    hbm = max(rates.values())
    print(
        f"device: {torch.cuda.get_device_name(0)}; HBM bandwidth: copy {rates['copy'] / 1e9:.0f}"
        f" GB/s, read {rates['read'] / 1e9:.0f} GB/s; floors use {hbm / 1e9:.0f} GB/s"
    )
    print(
        f"layer: hidden {shape.hidden}, {shape.heads}/{shape.kv_heads} heads of "
        f"{shape.head_dim}, {shape.experts} experts of {shape.ffn} (top {shape.top_k}), "
        f"W8A16 group {shape.group}; context {args.context} + {args.steps} decode steps"
    )
    steps: dict[int, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layers in LAYER_COUNTS:
            out = Path(tmp) / f"{layers}.json"
            cmd = [
                sys.executable,
                __file__,
                "--engine-layers",
                str(layers),
                "--out",
                str(out),
                "--batches",
                ",".join(map(str, args.batches)),
                "--context",
                str(args.context),
                "--steps",
                str(args.steps),
            ]
            print(f"timing an engine with {layers} decoder layer(s) ...", flush=True)
            subprocess.run(cmd, check=True)
            steps[layers] = {int(b): s for b, s in json.loads(out.read_text()).items()}
    lo, hi = LAYER_COUNTS
    mean_context = args.context + 1.5 * args.steps  # the timed steps are steps+1 .. 2*steps
    print(
        f"\n{'batch':>5} {'layer us':>9} {'floor us':>9} {'of floor':>9} "
        f"{'GB read':>8} {'TP=8 x64 tok/s':>15}"
    )
    for batch in args.batches:
        layer_s = (steps[hi][batch] - steps[lo][batch]) / (hi - lo)
        read = sum(decode_step_bytes(shape, batch, mean_context).values())
        floor_s = read / hbm
        projected = replica_tokens_per_s(batch, layer_s, shape, hbm)
        print(
            f"{batch:>5} {layer_s * 1e6:>9.1f} {floor_s * 1e6:>9.1f} {floor_s / layer_s:>9.0%} "
            f"{read / 1e9:>8.3f} {projected:>15.0f}"
        )
    print(
        f"\nprojection: 64 layers at TP=8, each GPU reading 1/8 of each layer, plus 2 "
        f"all-reduces per layer at an assumed {ALLREDUCE_S * 1e6:.0f} us each and the LM head;"
        f" target: at least 60% of the floor at batch 1"
    )


if __name__ == "__main__":
    main()
