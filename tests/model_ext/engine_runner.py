"""Run one real vLLM engine on a model directory and print what the tests compare, as JSON.

vLLM's engine core is a spawned process and its CPU workers bind threads per process, so each
engine configuration runs in its own interpreter (`python -m tests.model_ext.engine_runner`),
started once per test session by the fixtures in tests/conftest.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--eager", action="store_true")
    parser.add_argument("--requests", required=True, help="JSON: token lists and texts")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    # Two CPU workers on a two-core machine: one core each (vLLM cannot pick on one NUMA node).
    workers = args.tp * args.pp
    if workers > 1:
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "|".join(map(str, range(workers))))

    from vllm import LLM, SamplingParams

    requests = json.loads(args.requests)
    start = time.perf_counter()
    llm = LLM(
        model=args.model,
        dtype="float32",
        tensor_parallel_size=args.tp,
        pipeline_parallel_size=args.pp,
        max_model_len=256,
        enforce_eager=args.eager,
        seed=0,
    )
    startup = time.perf_counter() - start
    scored = llm.generate(
        [{"prompt_token_ids": tokens} for tokens in requests["score"]],
        SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0),
    )
    greedy = llm.generate(
        [{"prompt_token_ids": tokens} for tokens in requests["score"]] + requests["texts"],
        SamplingParams(max_tokens=8, temperature=0.0),
    )
    result = {
        "startup_s": startup,
        "prompt_logprobs": [
            [out.prompt_logprobs[i][tokens[i]].logprob for i in range(1, len(tokens))]
            for out, tokens in zip(scored, requests["score"], strict=True)
        ],
        "greedy_tokens": [list(out.outputs[0].token_ids) for out in greedy],
        "greedy_texts": [out.outputs[0].text for out in greedy],
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    sys.exit(main())
