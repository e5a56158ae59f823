"""The plugin's model on vLLM's CUDA kernels (bf16) against the float64 reference.

Passed on an H100 (2026-11-24; README, "On CUDA GPUs"). Skips, with the reason, where there is no
CUDA GPU or no CUDA build of vLLM. Run with `make test-gpu`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.gpu.conftest import GPU_TINY, MAX_TOLERANCE, MEDIAN_TOLERANCE
from tests.grok_reference import ReleaseParams, prompt_logprobs


def _errors(
    engine: dict[str, Any], reference: ReleaseParams, tokens: list[list[int]]
) -> np.ndarray:
    expected = [prompt_logprobs(reference, seq, GPU_TINY.head_dim) for seq in tokens]
    return np.abs(np.array(engine["prompt_logprobs"]) - np.array(expected)).ravel()


def _assert_matches(errors: np.ndarray) -> None:
    median, worst = float(np.median(errors)), float(errors.max())
    print(f"|logprob - float64 reference|: median {median:.4f}, max {worst:.4f} nats")
    assert median <= MEDIAN_TOLERANCE and worst <= MAX_TOLERANCE


@pytest.mark.parametrize("tp", [1, 2], ids=["tp1", "tp2"])
def test_bf16_cuda_graphs_match_reference(
    gpu_engine: Callable[..., dict[str, Any]],
    gpu_reference: ReleaseParams,
    gpu_score_tokens: list[list[int]],
    tp: int,
) -> None:
    _assert_matches(_errors(gpu_engine(tp=tp), gpu_reference, gpu_score_tokens))


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "cuda-graphs"])
def test_decode_steps_match_reference(
    gpu_engine: Callable[..., dict[str, Any]],
    gpu_reference: ReleaseParams,
    gpu_score_tokens: list[list[int]],
    eager: bool,
) -> None:
    """Each greedily decoded token's log-prob, against the reference's for the same prefix
    (whichever token a near-tie picked, its log-prob must be the reference's)."""
    engine = gpu_engine(eager=eager)
    errors = []
    for prompt, tokens, logprobs in zip(
        gpu_score_tokens, engine["decode_tokens"], engine["decode_logprobs"], strict=True
    ):
        expected = prompt_logprobs(gpu_reference, prompt + tokens, GPU_TINY.head_dim)
        errors.extend(np.abs(np.array(logprobs) - np.array(expected[-len(tokens) :])))
    _assert_matches(np.array(errors))


def test_eager_and_cuda_graphs_agree(
    gpu_engine: Callable[..., dict[str, Any]],
    gpu_reference: ReleaseParams,
    gpu_score_tokens: list[list[int]],
) -> None:
    eager, graphs = gpu_engine(eager=True), gpu_engine(eager=False)
    _assert_matches(_errors(eager, gpu_reference, gpu_score_tokens))
    # Same kernels; torch.compile may fuse elementwise steps differently, so the two need not
    # be bit-identical, but they must agree far more closely than either with float64.
    diff = np.abs(np.array(eager["prompt_logprobs"]) - np.array(graphs["prompt_logprobs"]))
    assert float(np.median(diff)) <= MEDIAN_TOLERANCE / 2


@pytest.mark.parametrize("tp", [1, 2], ids=["tp1", "tp2"])
def test_vllm_chose_the_int8_kernels_and_flash_attention(
    gpu_engine: Callable[..., dict[str, Any]], tp: int
) -> None:
    engine = gpu_engine(tp=tp)
    layers = GPU_TINY.num_layers
    hopper = engine["capability"][0] == 9
    for worker in engine["kernels"]:
        print(worker)
        # Experts: compressed-tensors W8A16 -> the WNA16 MoE method on the Marlin backend.
        assert worker["moe"] == {"CompressedTensorsWNA16MoEMethod:MARLIN": layers}
        # Linears: the W8A16 scheme on Machete (Hopper) or Marlin, for qkv_proj and o_proj.
        linear = worker["linear"]
        assert sum(linear.values()) == 2 * layers
        allowed = (
            {"MacheteLinearKernel"} if hopper else {"MacheteLinearKernel", "MarlinLinearKernel"}
        )
        for key in linear:
            module, scheme, kernel = key.split(":")
            assert module in ("qkv_proj", "o_proj") and scheme == "CompressedTensorsWNA16"
            assert kernel in allowed
        # Attention: FlashAttention (v3 on Hopper) with the soft cap 30 and scale 1/sqrt(128).
        ((attention, count),) = worker["attention"].items()
        backend, impl, softcap, fa, scale = attention.split(":")
        assert count == layers
        assert (backend, impl) == ("FLASH_ATTN", "FlashAttentionImpl")
        assert softcap == "softcap=30.0"
        assert fa == ("fa=3" if hopper else fa) and fa != "fa=None"
        assert float(scale.removeprefix("scale=")) == pytest.approx(128**-0.5)
