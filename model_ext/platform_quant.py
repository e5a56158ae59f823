"""Decide, per platform, whether the int8 checkpoint runs quantised or is expanded at load.

A converted Grok-1 directory declares compressed-tensors W8A16. vLLM serves that with int8
weight-only kernels on CUDA/ROCm; its CPU build has only 4-bit ones and would refuse the model.
On such a platform this hook (vLLM's per-architecture config hook, run just before vLLM checks
the quantisation method) removes the declaration, so vLLM builds unquantised layers, and
`Grok1ForCausalLM.load_weights` expands int8 * scale into them exactly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vllm.model_executor.models.config import VerifyAndUpdateConfig
from vllm.platforms import current_platform

if TYPE_CHECKING:
    from vllm.config import ModelConfig

logger = logging.getLogger(__name__)


def platform_runs_int8_weights() -> bool:
    """Whether vLLM has int8 weight-only (W8A16) kernels on this platform."""
    return current_platform.is_cuda_alike()


class Grok1PlatformQuantization(VerifyAndUpdateConfig):
    """Drops the int8 declaration where it cannot run, so the weights are dequantised on load."""

    @staticmethod
    def verify_and_update_model_config(model_config: ModelConfig) -> None:
        hf_config = model_config.hf_config
        quant = getattr(hf_config, "quantization_config", None)
        if quant is None or platform_runs_int8_weights():
            return
        if model_config.quantization not in (None, quant.get("quant_method")):
            return  # the user asked for something explicit; let vLLM judge it
        logger.info(
            "%s has no int8 weight-only kernels: Grok-1's int8 weights will be expanded to %s "
            "at load time",
            current_platform.device_name,
            model_config.dtype,
        )
        del hf_config.quantization_config
        model_config.model_arch_config = model_config.get_model_arch_config()
