"""Decide, per platform, whether the int8 checkpoint runs quantised or is expanded at load.

A converted Grok-1 directory declares compressed-tensors W8A16. vLLM serves that with int8
weight-only kernels on CUDA/ROCm; its CPU build has only 4-bit ones and would refuse the model.
On the CPU platform, and only there, this hook (vLLM's per-architecture config hook, run just
before vLLM checks the quantisation method) removes the declaration, so vLLM builds unquantised
layers, and `Grok1ForCausalLM.load_weights` expands int8 * scale into them exactly.

Why "only on CPU" and not "wherever there is no GPU": a process of the CUDA build that sees no
GPU (a head node, a driver process, a container without the device) resolves to vLLM's
*unspecified* platform. Dropping the declaration there would make every layer dense, about
630 GB for Grok-1, and a config built in such a process can travel to GPU workers. So there the
declaration is kept: vLLM itself then refuses to run an engine with its own message ("Failed to
infer device type"), while a config built there stays W8A16.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import vllm.platforms
from vllm.model_executor.models.config import VerifyAndUpdateConfig

if TYPE_CHECKING:
    from vllm.config import ModelConfig

logger = logging.getLogger(__name__)


def platform_expands_int8_weights() -> bool:
    """Whether this process runs vLLM on CPU, where no int8 weight-only kernel exists.

    Read at call time (not bound at import), so it is the platform vLLM resolved for this
    process, whichever module asked first.
    """
    return vllm.platforms.current_platform.is_cpu()


class Grok1PlatformQuantization(VerifyAndUpdateConfig):
    """Drops the int8 declaration on vLLM's CPU platform, so the weights are dequantised on load."""

    @staticmethod
    def verify_and_update_model_config(model_config: ModelConfig) -> None:
        hf_config = model_config.hf_config
        quant = getattr(hf_config, "quantization_config", None)
        platform = vllm.platforms.current_platform
        if quant is None:
            return
        if not platform_expands_int8_weights():
            if platform.is_unspecified():
                logger.warning(
                    "vLLM found no device platform in this process; Grok-1's int8 weights stay "
                    "declared (W8A16), so only a CUDA/ROCm process can run them"
                )
            return
        if model_config.quantization not in (None, quant.get("quant_method")):
            return  # the user asked for something explicit; let vLLM judge it
        logger.info(
            "%s has no int8 weight-only kernels: Grok-1's int8 weights will be expanded to %s "
            "at load time",
            platform.device_name,
            model_config.dtype,
        )
        del hf_config.quantization_config
        model_config.model_arch_config = model_config.get_model_arch_config()
