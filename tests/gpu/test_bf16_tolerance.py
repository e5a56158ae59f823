"""The bf16 tolerance of tests/gpu, re-justified on every run (CPU only, no engine).

A bf16 emulation of the float64 reference stands in for what any correct bf16 engine may do;
the GPU tests' tolerances must cover it with their stated margin, yet stay below what the
peers' systematic mistakes do to the same model, or the GPU comparison would prove nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tests.gpu.conftest import EMULATION_MARGIN, GPU_TINY, MAX_TOLERANCE, MEDIAN_TOLERANCE
from tests.grok_reference import Deviation, ReleaseParams, prompt_logprobs


@pytest.fixture(scope="module")
def exact(gpu_reference: ReleaseParams, gpu_score_tokens: list[list[int]]) -> np.ndarray:
    """The float64 reference's prompt log-probs of the scored sequences."""
    return np.array(
        [prompt_logprobs(gpu_reference, seq, GPU_TINY.head_dim) for seq in gpu_score_tokens]
    )


def _errors(
    exact: np.ndarray, reference: ReleaseParams, tokens: list[list[int]], **kwargs: Any
) -> np.ndarray:
    other = [prompt_logprobs(reference, seq, GPU_TINY.head_dim, **kwargs) for seq in tokens]
    return np.abs(np.array(other) - exact).ravel()


def test_tolerance_covers_bf16_rounding(
    exact: np.ndarray, gpu_reference: ReleaseParams, gpu_score_tokens: list[list[int]]
) -> None:
    errors = _errors(exact, gpu_reference, gpu_score_tokens, storage=torch.bfloat16)
    median, worst = float(np.median(errors)), float(errors.max())
    print(f"bf16 emulation vs float64: median {median:.4f}, max {worst:.4f} nats")
    assert median > 1e-3  # the emulation really rounds
    assert median * EMULATION_MARGIN["median"] <= MEDIAN_TOLERANCE
    assert worst * EMULATION_MARGIN["max"] <= MAX_TOLERANCE


@pytest.mark.parametrize(
    "deviation",
    [
        Deviation(renormalize_gates=True),
        Deviation(rescale_attn_output=True),
        Deviation(cap_before_scale=True),
    ],
    ids=["renormalised-gates", "rescaled-attention", "cap-before-scale"],
)
def test_tolerance_still_catches_systematic_mistakes(
    exact: np.ndarray,
    gpu_reference: ReleaseParams,
    gpu_score_tokens: list[list[int]],
    deviation: Deviation,
) -> None:
    assert np.median(_errors(exact, gpu_reference, gpu_score_tokens, deviation=deviation)) > (
        MEDIAN_TOLERANCE
    )
