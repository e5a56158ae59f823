"""Serving overhead of Ray Serve: the tiny app through Ray Serve vs the same engine run directly.

Starts both on this machine, one after the other (2 cores cannot host both fairly at once):
1. `deployments/grok-tiny.yaml` via `python -m deployments.serve_local` (Ray Serve + vLLM), with
   the Serve environment the spec asks for (`deployments.spec.TINY.serve_env`);
2. vLLM's own OpenAI server (`vllm.entrypoints.openai.api_server`, what `vllm serve` runs) on
   the same model directory with the same engine arguments, no Ray.
Both get the same client, vLLM's own `vllm bench serve` (`benchmarks/vllm_bench.py`), at several
concurrency levels: streaming completions of random prompts of a fixed length with a fixed
number of output tokens (ignore_eos). Its JSON results are kept (`--result-dir`); printed per
level: output tokens/s, TTFT and ITL percentiles, and Ray Serve / direct ratios from this run.
Both servers are started with an API key, which the client sends (OPENAI_API_KEY), so the
measured Ray Serve path includes the auth check production runs.

Run: `make bench-serve` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from deployments.engine import IN_PROCESS_EXECUTOR
from deployments.server_process import stop_server, wait_until_serving
from deployments.spec import TINY
from deployments.tiny_model import ensure_tiny_model

REPO = Path(__file__).resolve().parents[1]
API_KEY = "bench-" + os.urandom(6).hex()
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _bench_level(
    url: str, model_dir: Path, concurrency: int, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """One `vllm bench serve` run at one concurrency; returns its saved JSON result."""
    name = f"{out.name}-c{concurrency}.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.vllm_bench",
        "--backend",
        "openai",
        "--base-url",
        url,
        "--endpoint",
        "/v1/completions",
        "--model",
        TINY.model_id,
        "--tokenizer",
        str(model_dir),
        "--dataset-name",
        "random",
        "--random-input-len",
        str(args.input_len),
        "--random-output-len",
        str(args.tokens),
        "--ignore-eos",
        "--num-prompts",
        str(args.requests),
        "--max-concurrency",
        str(concurrency),
        "--num-warmups",
        str(concurrency),
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        "50,90,99",
        "--disable-tqdm",
        "--save-result",
        "--save-detailed",
        "--result-dir",
        str(out.parent),
        "--result-filename",
        name,
        "--seed",
        str(concurrency),
    ]
    env = {**os.environ, "OPENAI_API_KEY": API_KEY}
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    result = json.loads((out.parent / name).read_text())
    if result["completed"] != args.requests:
        raise RuntimeError(f"{url}: {result['completed']}/{args.requests} requests completed")
    return result


def _measure(
    cmd: list[str],
    env: dict[str, str],
    url: str,
    model_dir: Path,
    args: argparse.Namespace,
    out: Path,
) -> list[dict[str, Any]]:
    """Start one server, load it level by level, stop it; its output goes to a temp log."""
    env = {**os.environ, **env, "GROK_SERVE_API_KEY": API_KEY}
    with tempfile.NamedTemporaryFile(
        "w", prefix="bench-server-", suffix=".log", delete=False
    ) as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_until_serving(url, TINY.model_id, proc, 600, AUTH)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; server log: {log.name}") from None
            print(f"{out.name}: serving at {url} (log {log.name})", flush=True)
            return [_bench_level(url, model_dir, c, args, out) for c in args.concurrency]
        finally:
            stop_server(proc)


def held_streams(result: dict[str, Any]) -> float:
    """Share of requests whose stream was held back: the first token arrived after half of the
    request's time, i.e. most chunks reached the client in one late burst. A TTFT tail with
    an unchanged end-to-end latency looks like this; a slow prefill does not."""
    held = [
        ttft > 0.5 * (ttft + sum(itls))
        for ttft, itls in zip(result["ttfts"], result["itls"], strict=True)
    ]
    return sum(held) / len(held)


def _row(path: str, r: dict[str, Any]) -> str:
    return (
        f"{r['max_concurrency']:>4} {path:>9} {r['output_throughput']:>8.1f} "
        f"{r['median_ttft_ms']:>9.1f} {r['p90_ttft_ms']:>7.1f} {r['p99_ttft_ms']:>7.1f} "
        f"{r['median_itl_ms']:>8.1f} {r['p90_itl_ms']:>7.1f} {r['p99_itl_ms']:>7.1f} "
        f"{held_streams(r):>6.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=32, help="requests per level")
    parser.add_argument("--tokens", type=int, default=32, help="output tokens per request")
    parser.add_argument("--input-len", type=int, default=16, help="prompt tokens per request")
    parser.add_argument(
        "--ray-env",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the Ray path (on top of the spec's serve_env)",
    )
    parser.add_argument("--skip-direct", action="store_true", help="measure the Ray path only")
    parser.add_argument("--result-dir", type=Path, default=None)
    args = parser.parse_args()
    result_dir = args.result_dir or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    result_dir.mkdir(parents=True, exist_ok=True)
    model_dir = ensure_tiny_model(REPO / TINY.tiny_model_dir)
    # The same engine on both paths: the executor GrokVLLMEngine gives a one-worker engine too.
    engine = TINY.engine_kwargs()
    if TINY.tensor_parallel * TINY.pipeline_parallel == 1:
        engine["distributed_executor_backend"] = IN_PROCESS_EXECUTOR
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
        "--api-key",
        API_KEY,
    ] + [
        f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}")
        for k, v in engine.items()
        if v is not False
    ]
    serve_cmd = [sys.executable, "-m", "deployments.serve_local", "deployments/grok-tiny.yaml"]
    ray_env = {**TINY.serve_env, **dict(kv.split("=", 1) for kv in args.ray_env)}
    print(f"Ray Serve environment: {ray_env}", flush=True)
    ray = _measure(
        serve_cmd, ray_env, "http://127.0.0.1:8000", model_dir, args, result_dir / "ray-serve"
    )
    direct = (
        []
        if args.skip_direct
        else _measure(
            direct_cmd, {}, "http://127.0.0.1:8100", model_dir, args, result_dir / "direct"
        )
    )
    print(
        f"vllm bench serve: {args.requests} streaming requests x {args.input_len} prompt + "
        f"{args.tokens} output tokens per level, tiny model, CPU; JSON results in {result_dir}"
    )
    print(
        f"{'conc':>4} {'path':>9} {'tok/s':>8} {'TTFT p50':>9} {'p90':>7} {'p99':>7} "
        f"{'ITL p50':>8} {'p90':>7} {'p99':>7} {'held':>6}  (ms; held: streams sent late)"
    )
    for r, d in zip(ray, direct or [None] * len(ray), strict=True):
        print(_row("ray-serve", r))
        if d is None:
            continue
        print(_row("direct", d))
        print(
            f"{r['max_concurrency']:>4} {'ratio':>9} "
            f"{r['output_throughput'] / d['output_throughput']:>8.2f} "
            f"{r['median_ttft_ms'] / d['median_ttft_ms']:>9.2f}"
        )


if __name__ == "__main__":
    main()
