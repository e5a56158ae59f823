"""The reference and the tiny model can tell the release from every peer port.

Matching the reference within TOLERANCE means something only if each known deviation
(ARCHITECTURE.md, "Where peer ports deviate") moves the log-probs by much more than that on the
tiny model. These tests hold the tiny model's construction to that.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from model_ext.release.layout import layer_file_order
from tests.conftest import TINY
from tests.grok_reference import Deviation, ReleaseParams, prompt_logprobs
from tests.model_ext.test_model import TOLERANCE

MARGIN = 5  # each deviation must move some log-prob by MARGIN x the tolerance


def _max_shift(
    reference: ReleaseParams, other: ReleaseParams, tokens: list[list[int]], dev: Deviation
) -> float:
    return max(
        np.abs(
            np.array(prompt_logprobs(other, seq, TINY.head_dim, dev))
            - np.array(prompt_logprobs(reference, seq, TINY.head_dim))
        ).max()
        for seq in tokens
    )


@pytest.mark.parametrize(
    "deviation",
    [
        Deviation(erf_gelu=True),
        Deviation(router_cap=30.0),
        Deviation(renormalize_gates=True),
        Deviation(bf16_router=True),
        Deviation(rescale_attn_output=True),
        Deviation(cap_before_scale=True),
    ],
    ids=[
        "erf-gelu",
        "router-cap",
        "renormalised-gates",
        "bf16-router",
        "attn-rescale",
        "cap-order",
    ],
)
def test_each_peer_deviation_is_detectable(
    reference: ReleaseParams, score_tokens: list[list[int]], deviation: Deviation
) -> None:
    shift = _max_shift(reference, reference, score_tokens, deviation)
    assert shift > MARGIN * TOLERANCE, f"{deviation} moves log-probs by only {shift:.2e}"


def test_numeric_layer_order_is_detectable(
    reference: ReleaseParams, score_tokens: list[list[int]]
) -> None:
    """A converter reading ckpt-0 layers in numeric order assigns file group r to layer r."""
    misread = copy.copy(reference)
    order = layer_file_order(reference.num_layers)
    misread.params = {
        (layer, kind): value if layer is None else reference.params[(order[layer], kind)]
        for (layer, kind), value in reference.params.items()
    }
    assert order != sorted(order)
    assert _max_shift(reference, misread, score_tokens, Deviation()) > MARGIN * TOLERANCE


def test_reference_is_causal(reference: ReleaseParams, score_tokens: list[list[int]]) -> None:
    """Changing the last token leaves every earlier position's log-prob unchanged."""
    seq = score_tokens[0]
    changed = seq[:-1] + [(seq[-1] + 1) % TINY.vocab]
    a = prompt_logprobs(reference, seq, TINY.head_dim)
    b = prompt_logprobs(reference, changed, TINY.head_dim)
    assert np.allclose(a[:-1], b[:-1], atol=1e-12)
    assert a[-1] != b[-1]
