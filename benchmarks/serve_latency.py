"""Serving overhead of Ray Serve: the tiny app through Ray Serve vs the same engine run directly.

Starts both on this machine, one after the other (2 cores cannot host both fairly at once):
1. `deployments/grok-tiny.yaml` via `python -m deployments.serve_local` (Ray Serve + vLLM);
2. vLLM's own OpenAI server (`vllm.entrypoints.openai.api_server`, what `vllm serve` runs) on
   the same model directory with the same engine arguments, no Ray.
Each gets the same bounded load at several concurrency levels: streaming completions of a fixed
length (ignore_eos). Printed per level: throughput (output tokens/s), TTFT and ITL percentiles,
and Ray Serve / direct ratios from this one run. ITL is the gap between streamed chunks as the
client receives them: Ray Serve LLM flushes streamed chunks in small batches
(`stream_batching_interval_ms`), so its gaps are bimodal (zero within a batch).

Run: `make bench-serve` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from deployments.server_process import stop_server, wait_until_serving
from deployments.spec import TINY
from deployments.tiny_model import ensure_tiny_model

REPO = Path(__file__).resolve().parents[1]
PROMPT = "The answer to life, the universe, and everything is"


@dataclass
class LevelResult:
    concurrency: int
    tokens_per_s: float
    ttft_ms: list[float]
    itl_ms: list[float]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _one(client: httpx.AsyncClient, model: str, tokens: int) -> tuple[float, list[float]]:
    body = {
        "model": model,
        "prompt": PROMPT,
        "max_tokens": tokens,
        "stream": True,
        "ignore_eos": True,
        "temperature": 0,
    }
    start = time.perf_counter()
    stamps: list[float] = []
    async with client.stream("POST", "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            is_data = line.startswith("data: ") and line != "data: [DONE]"
            if is_data and json.loads(line[6:])["choices"]:
                stamps.append(time.perf_counter())
    ttft = (stamps[0] - start) * 1000
    return ttft, [(b - a) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]


async def _level(url: str, model: str, concurrency: int, requests: int, tokens: int) -> LevelResult:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        await _one(client, model, 2)  # warm-up
        queue = list(range(requests))
        ttfts: list[float] = []
        itls: list[float] = []

        async def worker() -> None:
            while queue:
                queue.pop()
                ttft, itl = await _one(client, model, tokens)
                ttfts.append(ttft)
                itls.extend(itl)

        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 900)
        elapsed = time.perf_counter() - start
    return LevelResult(concurrency, requests * tokens / elapsed, ttfts, itls)


def _measure(cmd: list[str], url: str, args: argparse.Namespace) -> list[LevelResult]:
    """Start one server, load it level by level, stop it; its output goes to a temp log."""
    env = {**os.environ, "GROK_SERVE_API_KEY": ""}
    with tempfile.NamedTemporaryFile(
        "w", prefix="bench-server-", suffix=".log", delete=False
    ) as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_until_serving(url, TINY.model_id, proc, 600)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; server log: {log.name}") from None
            return [
                asyncio.run(_level(url, TINY.model_id, c, args.requests, args.tokens))
                for c in args.concurrency
            ]
        finally:
            stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=32, help="requests per level")
    parser.add_argument("--tokens", type=int, default=32, help="output tokens per request")
    args = parser.parse_args()
    model_dir = ensure_tiny_model(REPO / TINY.tiny_model_dir)
    engine = TINY.engine_kwargs()
    direct_cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        TINY.model_id,
        "--host",
        "127.0.0.1",
        "--port",
        "8100",
    ] + [
        f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}")
        for k, v in engine.items()
        if v is not False
    ]
    serve_cmd = [sys.executable, "-m", "deployments.serve_local", "deployments/grok-tiny.yaml"]
    ray = _measure(serve_cmd, "http://127.0.0.1:8000", args)
    direct = _measure(direct_cmd, "http://127.0.0.1:8100", args)
    print(f"{args.requests} streaming requests x {args.tokens} tokens per level, tiny model, CPU")
    print(
        f"{'conc':>4} {'path':>9} {'tok/s':>8} {'TTFT p50':>9} {'p90':>7} {'p99':>7} "
        f"{'ITL p50':>8} {'p90':>7} {'p99':>7}  (ms)"
    )
    for r, d in zip(ray, direct, strict=True):
        for name, res in (("ray-serve", r), ("direct", d)):
            print(
                f"{res.concurrency:>4} {name:>9} {res.tokens_per_s:>8.1f} "
                f"{_pct(res.ttft_ms, 0.5):>9.1f} {_pct(res.ttft_ms, 0.9):>7.1f} "
                f"{_pct(res.ttft_ms, 0.99):>7.1f} {_pct(res.itl_ms, 0.5):>8.1f} "
                f"{_pct(res.itl_ms, 0.9):>7.1f} {_pct(res.itl_ms, 0.99):>7.1f}"
            )
        print(
            f"{r.concurrency:>4} {'ratio':>9} {r.tokens_per_s / d.tokens_per_s:>8.2f} "
            f"{statistics.median(r.ttft_ms) / statistics.median(d.ttft_ms):>9.2f} "
            f"{'':>15} {statistics.median(r.itl_ms) / statistics.median(d.itl_ms):>8.2f}"
        )


if __name__ == "__main__":
    main()
