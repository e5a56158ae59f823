"""Run the plugin's model in one vLLM engine on CUDA (bf16) and write what tests/gpu compare.

Run on an H100 (2026-11-24; README, "On CUDA GPUs"). One engine configuration per interpreter
(`python -m tests.gpu.gpu_runner`), like tests/model_ext/engine_runner.py on CPU.

The plugin is registered when this module is imported, not only in `main`: on a GPU host where
the project is not installed (no entry point, `PYTHONPATH=.`), vLLM's engine core and TP
workers are spawned processes, and spawn re-imports the main module in each of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Any

from torch import nn

import model_ext

model_ext.register()

DECODE_STEPS = 8


def kernel_choices(model: nn.Module) -> dict[str, Any]:
    """What vLLM picked for this worker's layers, read from the layers themselves.

    - linear: compressed-tensors puts its scheme on the layer (`layer.scheme`), and the W8A16
      scheme keeps the mixed-precision kernel it chose (`scheme.kernel`: Machete, Marlin, ...);
    - MoE: the layer's `quant_method` (CompressedTensorsWNA16MoEMethod) records the backend the
      WNA16 MoE oracle selected (`wna16_backend`, MARLIN expected);
    - attention: the layer's backend class and its implementation's soft cap and FA version.
    """
    from vllm.model_executor.layers.attention import Attention

    linear: Counter[str] = Counter()
    moe: Counter[str] = Counter()
    attention: Counter[str] = Counter()
    for name, module in model.named_modules():
        scheme = getattr(module, "scheme", None)
        kernel = getattr(scheme, "kernel", None)
        if kernel is not None:
            linear[
                f"{name.rsplit('.', 1)[-1]}:{type(scheme).__name__}:{type(kernel).__name__}"
            ] += 1
        method = getattr(module, "quant_method", None)
        if type(method).__name__.endswith("MoEMethod"):
            backend = getattr(method, "wna16_backend", None)
            moe[f"{type(method).__name__}:{getattr(backend, 'name', backend)}"] += 1
        if isinstance(module, Attention):
            impl = module.impl
            attention[
                f"{module.attn_backend.get_name()}:{type(impl).__name__}"
                f":softcap={getattr(impl, 'logits_soft_cap', None)}"
                f":fa={getattr(impl, 'vllm_flash_attn_version', None)}"
                f":scale={impl.scale}"
            ] += 1
    return {"linear": dict(linear), "moe": dict(moe), "attention": dict(attention)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--eager", action="store_true")
    parser.add_argument("--score", required=True, help="JSON: token lists to score")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    # `apply_model` sends `kernel_choices` to the engine process by pickle; test-only engine.
    os.environ["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"

    import torch
    from vllm import LLM, SamplingParams

    score = json.loads(args.score)
    llm = LLM(
        model=args.model,
        dtype="bfloat16",
        tensor_parallel_size=args.tp,
        max_model_len=256,
        enforce_eager=args.eager,
        gpu_memory_utilization=0.35,
        seed=0,
    )
    scored = llm.generate(
        [{"prompt_token_ids": tokens} for tokens in score],
        SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0),
    )
    # Decode steps run as full CUDA graphs (prompt log-probs come from prefill, which does not).
    decoded = llm.generate(
        [{"prompt_token_ids": tokens} for tokens in score],
        SamplingParams(max_tokens=DECODE_STEPS, temperature=0.0, logprobs=0),
    )
    result = {
        "device": torch.cuda.get_device_name(0),
        "capability": list(torch.cuda.get_device_capability(0)),
        "prompt_logprobs": [
            [out.prompt_logprobs[i][tokens[i]].logprob for i in range(1, len(tokens))]
            for out, tokens in zip(scored, score, strict=True)
        ],
        "decode_tokens": [list(out.outputs[0].token_ids) for out in decoded],
        "decode_logprobs": [
            [
                step[token].logprob
                for step, token in zip(o.outputs[0].logprobs, o.outputs[0].token_ids, strict=True)
            ]
            for o in decoded
        ],
        "kernels": llm.apply_model(kernel_choices),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    sys.exit(main())
